"""The ZenML store guard run.py calls before importing pipelines: one process at a time opens a store,
credentials never reach a message, and a step failing with a user error logs no traceback."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from commands.support import ORCHESTRATOR_LOGGERS, _UserErrorTracebacks, ensure_zenml_store
from embedtune import EmbedtuneError
from embedtune.util.redact import redact_url as _redacted_url

fcntl = pytest.importorskip("fcntl", reason="POSIX file locks")


def test_opening_the_store_waits_for_another_process_holding_the_store_lock():
    from zenml.config.global_config import GlobalConfiguration

    lock_path = Path(GlobalConfiguration().config_directory) / "embedtune-store.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    with lock_path.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a first run creating the store would
        worker = threading.Thread(target=lambda: (ensure_zenml_store(), done.set()), daemon=True)
        worker.start()
        time.sleep(1.0)
        assert not done.is_set()  # still waiting for the lock
    worker.join(timeout=60)
    assert done.is_set()


def test_credentials_in_a_store_url_are_never_echoed():
    assert _redacted_url("https://user:pa55@zenml.example.com:8080/api") == "https://***@zenml.example.com:8080/api"
    assert _redacted_url("http://127.0.0.1:8237") == "http://127.0.0.1:8237"


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:  # noqa: BLE001 - capturing exc_info as logger.exception would
        return logging.LogRecord("zenml", logging.ERROR, __file__, 1, "Step %s failed.", ("x",), sys.exc_info())


def test_a_step_failing_with_a_user_error_logs_no_traceback_but_other_failures_keep_theirs():
    ensure_zenml_store()
    assert any(isinstance(f, _UserErrorTracebacks) for f in logging.getLogger(ORCHESTRATOR_LOGGERS[0]).filters)
    wrapped = RuntimeError("step failed")
    wrapped.__cause__ = EmbedtuneError("the endpoint rejected the API key")
    user = _record(wrapped)
    assert _UserErrorTracebacks().filter(user) and user.exc_info is None
    bug = _record(ZeroDivisionError("a bug"))
    assert _UserErrorTracebacks().filter(bug) and bug.exc_info is not None
