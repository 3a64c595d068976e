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

import yaml

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


def run_tiny_pipeline(env: dict[str, str], workdir: Path, model_name: str, timeout: float = 300,
                      gold: bool = False) -> dict:
    """tests/services/tiny_pipeline.py from the repository root (`gold`: with its small gold set); returns its
    final JSON line."""
    out = run([sys.executable, "-m", "tests.services.tiny_pipeline", "--workdir", str(workdir),
               "--model-name", model_name, *(["--gold"] if gold else [])], env, PROJECT_ROOT, timeout)
    return json.loads(out.strip().splitlines()[-1])


def tiny_run_config(folder: Path, model: str, model_name: str, corpus: Path | None = None,
                    enable_cache: bool = False, extra: dict | None = None) -> Path:
    """The tiny setup of tests/services/tiny_pipeline.py as a run config for `run.py run --config` (heuristic
    generator, 2-layer random BERT `model`, one short epoch), written to `folder`/tiny.yaml."""
    parameters = {
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"backend": "heuristic", "queries_per_chunk": 2},
        "model": {"base_model": model, "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100},
    }
    if corpus is not None:
        parameters["ingest"] = {"corpus": str(corpus)}
    parameters.update(extra or {})  # further sections, e.g. curation
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({"enable_cache": enable_cache, "model": {"name": model_name},
                                    "parameters": parameters}), encoding="utf-8")
    return path


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    """`python run.py ARGS` as a user runs it; the completed process, whatever its exit status."""
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run.py"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def start_zenml_server(env: dict[str, str], home: Path, port: int) -> str:
    """`run.py dashboard --port PORT` (zenml login --local) in `env`'s ZENML_CONFIG_PATH: the local server as a
    daemon, the client logged in to it. Returns its URL once it answers."""
    run([sys.executable, str(PROJECT_ROOT / "run.py"), "dashboard", "--port", str(port)], env, home, timeout=300)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", timeout=60)
    return url


def stop_zenml_server(env: dict[str, str], home: Path) -> None:
    """`run.py dashboard --stop` (zenml logout --local)."""
    run([sys.executable, str(PROJECT_ROOT / "run.py"), "dashboard", "--stop"], env, home, timeout=120)


@contextlib.contextmanager
def zenml_server(env: dict[str, str], home: Path) -> Iterator[str]:
    """A local ZenML server for `env`'s ZENML_CONFIG_PATH on a free port, the client logged in to it; yields its
    URL, stops it on exit."""
    url = start_zenml_server(env, home, free_port())
    try:
        yield url
    finally:
        stop_zenml_server(env, home)


def zenml_server_pid(env: dict[str, str]) -> int:
    """The process id of the local server daemon of `env`'s ZENML_CONFIG_PATH (ZenML's service.pid)."""
    (pid_file,) = Path(env["ZENML_CONFIG_PATH"]).rglob("service.pid")
    return int(pid_file.read_text().strip())


def api(url: str, path: str) -> dict:
    """GET `path` of a local ZenML server's REST API (no authentication on `zenml login --local`), as JSON."""
    with urllib.request.urlopen(f"{url}/api/v1/{path}", timeout=60) as response:
        return json.loads(response.read())


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
