"""Helpers for the services tests that drive ZenML in separate processes, each on its own ZENML_CONFIG_PATH,
so the session's store (tests/conftest.py) and the user's are never touched."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import PROJECT_ROOT

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def zenml_env(config_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ZENML_CONFIG_PATH": str(config_path),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_AUTO_OPEN_DASHBOARD": "false",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_WAIT_POLICY": "PASSIVE",
    })
    env.pop("ZENML_ACTIVE_STACK_ID", None)
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    """Run a command; on failure, raise with the tail of its output so the test report says why."""
    result = subprocess.run(command, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command[:4])} ... exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result.stdout


def run_tiny_pipeline(env: dict[str, str], workdir: Path, model_name: str, timeout: float = 300) -> dict:
    """tests/services/tiny_pipeline.py from the repository root; returns its final JSON line."""
    out = run([sys.executable, "-m", "tests.services.tiny_pipeline", "--workdir", str(workdir),
               "--model-name", model_name], env, PROJECT_ROOT, timeout)
    return json.loads(out.strip().splitlines()[-1])


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited with code {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def serving(command: list[str], folder: Path, health_path: str, timeout: float, port: int,
            env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a server `command` on 127.0.0.1:`port` (log in `folder`/server.log), yield its URL once
    `health_path` answers, then stop it (terminate, kill after 30 s)."""
    url = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env,
                                  start_new_session=True)
        try:
            wait_for_http(f"{url}{health_path}", timeout=timeout, process=server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
