"""One place turns a failure into what the user reads: one `error:` line and exit 2 for what they can fix
(a ZenML lookup of a missing artifact included), 143 / 130 with a reason for SIGTERM / SIGINT, and a
traceback without local variables (and without URL credentials) for bugs and `--verbose`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import click
import pytest

from commands.errors import Interrupted, run_cli, user_facing_message
from embedtune import EmbedtuneError
from tests.conftest import PROJECT_ROOT


def _group(failure: BaseException) -> click.Group:
    @click.group()
    def group() -> None:
        pass

    @group.command("go")
    def go() -> None:
        local_value = "LOCAL-VARIABLE-VALUE"  # noqa: F841 - must never be printed
        raise failure

    return group


def _run(failure: BaseException, capsys, verbose: bool = False) -> tuple[int, str]:
    sys_argv = sys.argv
    sys.argv = ["run.py", "go"]
    try:
        with pytest.raises(SystemExit) as exited:
            run_cli(_group(failure), verbose=verbose)
    finally:
        sys.argv = sys_argv
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return exited.value.code, capsys.readouterr().err


def test_a_user_error_wrapped_by_a_library_is_one_line_and_exit_2(capsys):
    wrapped = RuntimeError("Failed to run step evaluate")
    wrapped.__cause__ = EmbedtuneError("qrels/test.tsv:3: score '1.5' is not a whole number")
    code, err = _run(wrapped, capsys)
    assert code == 2 and err.strip().splitlines() == ["error: qrels/test.tsv:3: score '1.5' is not a whole number"]


def test_a_missing_artifact_in_a_real_store_is_one_line_naming_the_fix(zenml_repository, capsys):
    from zenml.client import Client

    with pytest.raises(KeyError) as looked_up:
        Client().get_artifact_version("embedtune_never_made_artifact")
    message = user_facing_message(looked_up.value)
    assert message and "'embedtune_never_made_artifact'" in message and "python run.py generate" in message
    code, err = _run(looked_up.value, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_bug_keeps_a_plain_traceback_without_locals_or_url_credentials(capsys):
    code, err = _run(ZeroDivisionError("at http://user:hunter2@proxy.example/v1"), capsys)
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err
    assert "LOCAL-VARIABLE-VALUE" not in err and "hunter2" not in err and "***@proxy.example" in err


def test_verbose_adds_the_traceback_but_never_local_variables(capsys):
    code, err = _run(EmbedtuneError("bad input"), capsys, verbose=True)
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1] == "error: bad input"
    assert "LOCAL-VARIABLE-VALUE" not in err


def test_an_interruption_names_its_signal():
    assert str(Interrupted(signal.SIGTERM)) == "stopped by SIGTERM"
    assert str(Interrupted(signal.SIGINT)) == "stopped by SIGINT (Ctrl-C)"
    assert "run the same command again" in (user_facing_message(Interrupted(signal.SIGTERM)) or "")


SLEEPER = textwrap.dedent(
    """
    import sys, time, click
    from commands.errors import run_cli

    @click.group()
    def group():
        pass

    @group.command("sleep")
    def sleep():
        print("ready", flush=True)
        time.sleep(60)

    sys.argv = ["run.py", "sleep"]
    run_cli(group, verbose=False)
    """
)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_within_seconds_with_one_line(signum, code):
    process = subprocess.Popen(
        [sys.executable, "-c", SLEEPER], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert process.stdout.readline().strip() == "ready"
    started = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode == code, err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: stopped by {signal.Signals(signum).name}"), err


def test_a_config_refused_on_assignment_is_one_line_and_other_validation_errors_are_bugs():
    from pydantic import BaseModel, ValidationError

    from commands.errors import user_facing_message
    from embedtune.config import EmbedtuneConfig

    config = EmbedtuneConfig()
    try:
        config.training = {"loss": "margin_mse"}  # needs a teacher: refused by the top-level validator
    except ValidationError as error:
        message = user_facing_message(error)
    assert message.startswith("invalid config: ") and "needs teacher.kind" in message

    class Internal(BaseModel):
        x: int

    try:
        Internal(x="no")
    except ValidationError as error:
        assert user_facing_message(error) is None
