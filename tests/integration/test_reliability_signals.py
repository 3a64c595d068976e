"""SIGTERM / SIGINT during a real ZenML step, as `kill`, systemd, Kubernetes or Ctrl-C send them: the
command stops within seconds with one `error:` line naming the signal (exit 143 / 130), ZenML's
"Failed to run step" line has a reason, no traceback, and the next run in the same store works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import os, sys, time, click
    from zenml import pipeline, step
    from commands.errors import run_cli

    @step(enable_cache=False)
    def slow() -> int:
        print("step running", flush=True)
        time.sleep(float(os.environ["SLEEP_S"]))
        return 1

    @pipeline(enable_cache=False)
    def slow_pipeline():
        slow()

    @click.group()
    def group():
        pass

    @group.command("go")
    def go():
        slow_pipeline()
        print("finished", flush=True)

    sys.argv = ["run.py", "go"]
    run_cli(group, verbose=False)
    """
)


def _start(tmp_path: Path, sleep_s: float) -> subprocess.Popen:
    environment = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), "SLEEP_S": str(sleep_s),
                   "PYTHONPATH": str(PROJECT_ROOT)}
    script = tmp_path / "slow_pipeline.py"  # a file: ZenML reads a step's source
    script.write_text(SCRIPT, encoding="utf-8")
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_step_is_one_line_with_its_exit_code_and_the_store_stays_usable(tmp_path, signum, code):
    process = _start(tmp_path, 120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "step running" not in (line := process.stdout.readline()):
        assert line, process.stderr.read()[-3000:]
    started = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert time.monotonic() - started < 20
    output = out + err
    assert process.returncode == code, output[-3000:]
    assert "Traceback" not in output
    name = signal.Signals(signum).name
    assert f"Failed to run step slow: stopped by {name}" in _plain(output)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: stopped by {name}"), err[-3000:]

    again = _start(tmp_path, 0)
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0 and "finished" in out, (out + err)[-3000:]


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
