"""A local ZenML server (`run.py dashboard`, zenml login --local) killed while `run.py run` is in progress.

The rule of issue #18 for every failure: exit 2 and one `error:` line naming the problem and the fix, no
traceback, the store consistent, and the next run resumes. Here: the tiny pipeline (cache on) runs against the
server; once `train_embedder` has started, the server process is killed (SIGKILL, as a crash or an OOM kill
would). The client must give up within a bounded time (ZenML's own retries held it for minutes per request:
`commands.support.bound_server_retries`) with one line naming the server's URL and how to restart it. Then the
server is restarted on the same port and config path and the same command runs again: the steps that finished
before the kill are reused from the cache, the rest run, the run completes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import PROJECT_ROOT, write_corpus
from tests.services.zenml_env import (
    api,
    free_port,
    run_cli,
    start_zenml_server,
    stop_zenml_server,
    tiny_run_config,
    zenml_env,
    zenml_server_pid,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

MODEL_NAME = "embedtune-services-server-loss"
KILL_AT = "train_embedder"  # the server dies once this step has started
FINISHED_BEFORE = ["load_documents", "chunk_documents", "generate_queries", "filter_pairs", "mine_negatives",
                   "split_by_document", "report_data"]
AFTER = ["train_embedder", "evaluate", "promote"]
GIVE_UP_WITHIN_S = 120  # from the kill to the client's exit (it was over 3 minutes with ZenML's own retries)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A key in the run's environment, as a user's shell has them: no failure path may print it.
SECRET_ENV = {"OPENAI_API_KEY": "sk-embedtune-server-loss-0123456789abcdef"}


def run_and_kill_server(env: dict[str, str], home, config) -> dict:
    """`run.py run` in the background; the server is killed once KILL_AT has started. Returns the exit code, the
    output (colours removed) and the seconds from the kill to the client's exit."""
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "run.py"), "run", "--config", str(config)],
                               env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
    readers = [threading.Thread(target=lambda name, pipe: streams[name].extend(pipe), args=(name, pipe), daemon=True)
               for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr))]
    for reader in readers:
        reader.start()
    started = re.compile(rf"Step {KILL_AT} has started")
    deadline = time.monotonic() + 300
    while not any(started.search(ANSI.sub("", line)) for name in streams for line in list(streams[name])):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{KILL_AT} never started (exit {process.returncode}):\n"
                                 + "".join(streams["stdout"] + streams["stderr"])[-5000:])
        time.sleep(0.2)
    os.kill(zenml_server_pid(env), signal.SIGKILL)
    killed = time.monotonic()
    try:
        process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    seconds = time.monotonic() - killed
    for reader in readers:
        reader.join(timeout=10)
    return {"returncode": process.returncode, "seconds": seconds,
            "stdout": ANSI.sub("", "".join(streams["stdout"])), "stderr": ANSI.sub("", "".join(streams["stderr"]))}


@pytest.fixture(scope="module")
def server_loss(tmp_path_factory):
    """The killed run, then the server restarted and the same command run again."""
    from tests.services.tiny_pipeline import tiny_model

    home = tmp_path_factory.mktemp("server-loss")
    env = zenml_env(home / "zenml", ZENML_LOGGING_VERBOSITY="INFO", **SECRET_ENV)  # step lines tell when to kill
    config = tiny_run_config(home, tiny_model(home), MODEL_NAME, corpus=write_corpus(home / "corpus"),
                             enable_cache=True)
    port = free_port()
    url = start_zenml_server(env, home, port)
    started = time.monotonic()
    try:
        killed = run_and_kill_server(env, home, config)
        killed_seconds = time.monotonic() - started
        started = time.monotonic()
        assert start_zenml_server(env, home, port) == url  # the same config path and port: the same store
        restart_seconds = time.monotonic() - started
        started = time.monotonic()
        rerun = run_cli(["run", "--config", str(config)], env, home)
        rerun_seconds = time.monotonic() - started
        runs = api(url, "runs?size=10&sort_by=asc:created")["items"]
        steps = {run["id"]: {step["name"]: step["body"]["status"]
                             for step in api(url, f"steps?pipeline_run_id={run['id']}&size=100")["items"]}
                 for run in runs}
    finally:
        stop_zenml_server(env, home)
    print(f"server loss: killed run {killed_seconds:.0f} s (client gave up {killed['seconds']:.0f} s after the kill),"
          f" restart {restart_seconds:.0f} s, rerun {rerun_seconds:.0f} s")
    return {"url": url, "port": port, "killed": killed, "rerun": rerun, "runs": runs, "steps": steps}


def test_a_server_killed_mid_run_is_one_error_line_naming_it_and_the_restart(server_loss):
    killed, url = server_loss["killed"], server_loss["url"]
    output = killed["stdout"] + killed["stderr"]
    assert killed["returncode"] == 2, output[-5000:]
    assert killed["seconds"] < GIVE_UP_WITHIN_S, f"the client took {killed['seconds']:.0f} s to give up"
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    expected = (f"error: the ZenML server at {url} is unreachable (Connection refused); restart it (`python run.py "
                f"dashboard --port {server_loss['port']}`), then run the same command again: steps that finished "
                "before it went away are reused from the cache")
    assert errors == [expected], output[-5000:]
    assert killed["stderr"].rstrip().endswith(errors[0])  # the last word, on stderr
    assert "Traceback" not in output and 'File "' not in output, output[-5000:]
    assert not any(secret in output for secret in SECRET_ENV.values())


def test_the_next_run_after_a_restart_reuses_the_steps_that_finished_and_completes(server_loss):
    rerun = server_loss["rerun"]
    output = ANSI.sub("", rerun.stdout + rerun.stderr)
    assert rerun.returncode == 0, output[-5000:]
    assert "(completed)" in output
    for name in FINISHED_BEFORE:
        assert f"Using cached version of step {name}" in output, name
    rerun_run = server_loss["runs"][-1]
    assert len(server_loss["runs"]) == 2 and rerun_run["body"]["status"] == "completed"
    statuses = server_loss["steps"][rerun_run["id"]]
    assert {name: statuses[name] for name in FINISHED_BEFORE} == dict.fromkeys(FINISHED_BEFORE, "cached")
    assert {name: statuses[name] for name in AFTER} == dict.fromkeys(AFTER, "completed")


def test_the_store_keeps_what_finished_and_nothing_half_done(server_loss):
    """The killed run never completed; its finished steps are completed (what the rerun reused), and the step
    the server died in registered nothing as finished. ZenML never heard the end, so the run itself stays
    'running' (docs/troubleshooting.md)."""
    killed_run, _ = server_loss["runs"]
    assert killed_run["body"]["status"] != "completed"
    statuses = server_loss["steps"][killed_run["id"]]
    assert {name: statuses[name] for name in FINISHED_BEFORE} == dict.fromkeys(FINISHED_BEFORE, "completed")
    assert statuses.get(KILL_AT) != "completed" and not any(name in statuses for name in AFTER[1:])
