"""A real Argilla 2.8 server for tests: the project's launcher (scripts/argilla/server.py) in .argilla-venv, on a
free loopback port, with a temporary ARGILLA_HOME_PATH (SQLite, keys, logs). `make argilla-install` builds the venv;
`make test` does it first (TEST_SERVICES)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import PROJECT_ROOT

SERVER_PYTHON = PROJECT_ROOT / ".argilla-venv" / "bin" / "python"
LAUNCHER = PROJECT_ROOT / "scripts" / "argilla" / "server.py"
OWNER = "argilla"
WORKSPACE = "argilla"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ArgillaServer:
    url: str
    api_key: str = field(repr=False)
    password: str = field(repr=False)
    home: Path
    process: subprocess.Popen
    startup_s: float

    def add_user(self, username: str, role: str = "annotator") -> str:
        """A user of the workspace; returns its API key."""
        api_key = f"{username}-{secrets.token_hex(16)}"
        subprocess.run(
            [
                str(SERVER_PYTHON),
                str(LAUNCHER),
                "add-user",
                "--home",
                str(self.home),
                "--username",
                username,
                f"--password={username}-password",
                "--role",
                role,
                "--workspace",
                WORKSPACE,
                f"--api-key={api_key}",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return api_key

    def log(self) -> str:
        path = self.home / "test-server.log"
        return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""


def start_server(home: Path, timeout: float = 180.0) -> ArgillaServer:
    if not SERVER_PYTHON.exists():
        raise RuntimeError(f"{SERVER_PYTHON} missing: run `make argilla-install` (make test does it)")
    port = free_port()
    api_key = f"owner-{secrets.token_hex(16)}"
    password = secrets.token_urlsafe(12)
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with open(home / "test-server.log", "wb") as log:
        process = subprocess.Popen(
            [
                str(SERVER_PYTHON),
                str(LAUNCHER),
                "start",
                "--home",
                str(home),
                "--port",
                str(port),
                f"--api-key={api_key}",
                f"--password={password}",
                "--quiet",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = ArgillaServer(url, api_key, password, home, process, 0.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Argilla server exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/version", timeout=2) as response:
                if response.status == 200:
                    server.startup_s = time.perf_counter() - started
                    return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"the Argilla server did not answer within {timeout:.0f} s:\n{server.log()}")


def stop_server(server: ArgillaServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)  # the launcher stops its redis-server itself
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)  # its own session: only what it started
            server.process.wait(timeout=10)
