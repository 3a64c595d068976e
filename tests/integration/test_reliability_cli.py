"""Unreachable services and wrong credentials, as a user meets them through `run.py`: one `error: ...`
line, exit 2, and the key nowhere (stdout/stderr, step logs, artifacts, metadata, caches).

Each test runs the CLI against its own fresh ZenML store (ZENML_CONFIG_PATH in tmp_path) and a
loopback server (tests/fault_server.py) or a closed loopback port."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT, write_corpus
from tests.fault_server import fault_server

pytestmark = pytest.mark.integration

SECRET = "sk-test-SECRET123"
KEY_ENV = "EMBEDTUNE_RELIABILITY_KEY"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(tmp_path: Path, model_dir: str, base_url: str) -> Path:
    config = {
        "enable_cache": False,
        "model": {"name": "embedtune-reliability"},
        "parameters": {
            "ingest": {"corpus": str(write_corpus(tmp_path / "corpus", repeats=1))},
            "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
            "generation": {
                "backend": "openai",
                "queries_per_chunk": 1,
                "cache_dir": str(tmp_path / "generation-cache"),
                "openai": {"model": "fault-model", "base_url": base_url, "api_key_env": KEY_ENV,
                           "max_retries": 0, "timeout_s": 10, "max_concurrency": 4},
            },
            "model": {"base_model": model_dir, "matryoshka_dims": [64, 32]},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), KEY_ENV: SECRET, **env}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args], cwd=PROJECT_ROOT, env=environment,
        capture_output=True, text=True, timeout=240, check=False,
    )


def assert_one_error_line(result: subprocess.CompletedProcess, expected: str) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
    return errors[0]


def files_holding(secret: str, *folders: Path) -> list[str]:
    """Every file (text or binary: the SQLite store, parquet, step logs) that contains `secret`."""
    needle = secret.encode()
    return [str(path) for folder in folders if folder.exists() for path in folder.rglob("*")
            if path.is_file() and needle in path.read_bytes()]


def test_a_zenml_server_that_is_not_running_is_one_clear_error(tmp_path, tiny_model_dir, zenml_repository):
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(tmp_path, "generate", "--config", str(write_config(tmp_path, tiny_model_dir, url + "/v1")),
                     ZENML_STORE_URL=url)
    line = assert_one_error_line(result, f"cannot reach the ZenML server at {url}")
    assert "zenml logout" in line


class _RefusingZenML(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _refuse(self):
        body = json.dumps({"detail": ["AuthorizationException", "Authentication error: invalid API key"]}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse


def test_a_zenml_server_refusing_the_credentials_is_one_clear_error_without_them(
    tmp_path, tiny_model_dir, zenml_repository
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusingZenML)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(tmp_path, "generate", "--config", str(write_config(tmp_path, tiny_model_dir, url + "/v1")),
                         ZENML_STORE_URL=url, ZENML_STORE_API_KEY=SECRET)
    finally:
        server.shutdown()
        server.server_close()
    line = assert_one_error_line(result, f"cannot use the ZenML store at {url}")
    assert "credentials" in line
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.slow  # a full `generate` on a fresh store: ~1 min on 2 busy cores
def test_an_llm_endpoint_rejecting_the_key_stops_the_run_clearly_and_the_key_is_nowhere(
    tmp_path, tiny_model_dir, zenml_repository
):
    with fault_server(status=401) as (server, state):
        config = write_config(tmp_path, tiny_model_dir, server.base_url)
        result = run_cli(tmp_path, "generate", "--config", str(config))
    assert_one_error_line(result, "rejected the API key (HTTP 401)")
    assert 1 <= state.count() <= 4  # one batch, no retries of a 401
    assert all(request.auth == f"Bearer {SECRET}" for request in state.requests)  # it was sent, only there
    assert SECRET not in result.stdout + result.stderr
    assert files_holding(SECRET, tmp_path / "zenml", tmp_path / "generation-cache", PROJECT_ROOT / ".zen") == []


INSPECT = """
import json
from zenml.client import Client
run = Client().list_pipeline_runs(size=1, sort_by="desc:created", hydrate=True)[0]
def metadata(step, name):
    artifact = run.steps[step].outputs[name]
    return (artifact[0] if isinstance(artifact, list) else artifact).run_metadata
print("META " + json.dumps({"generated": metadata("generate_queries", "synthetic_pairs"),
                            "filtered": metadata("filter_pairs", "filtered_pairs")}, default=str))
"""


@pytest.mark.slow  # a full `generate` on a fresh store: ~1 min on 2 busy cores
def test_a_run_with_bad_llm_answers_succeeds_counts_them_and_keeps_the_key_out_of_logs_artifacts_and_metadata(
    tmp_path, tiny_model_dir, zenml_repository
):
    with fault_server() as (server, state):
        config = write_config(tmp_path, tiny_model_dir, server.base_url)
        corpus = tmp_path / "corpus"
        (corpus / "faulty.md").write_text("# Faulty\n\nA short page the server answers with FAULT:garbage text.")
        (corpus / "failing.md").write_text("# Failing\n\nA short page the server answers with FAULT:500 errors.")
        result = run_cli(tmp_path, "generate", "--config", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training pairs: artifact 'training_triplets'" in result.stdout
    assert state.count("garbage") == 1 and state.count("500") == 1 and state.count("ok") == state.count() - 2
    inspected = subprocess.run([sys.executable, "-c", INSPECT], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
                               env={**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}, timeout=120)
    meta = json.loads(inspected.stdout.split("META ", 1)[1])
    assert meta["generated"]["unanswered"] == 1 and meta["generated"]["unparseable"] == 1
    assert meta["generated"]["call_errors"] == {"InternalServerError": 1}
    assert meta["filtered"]["dropped"]["parse_failure"] == 2  # both bad rows dropped and counted
    assert SECRET not in result.stdout + result.stderr
    stores = list((tmp_path / "zenml").rglob("zenml.db"))
    assert stores and list((tmp_path / "zenml").rglob("df.parquet*"))  # the store and artifacts were written
    assert files_holding(SECRET, tmp_path / "zenml", tmp_path / "generation-cache", PROJECT_ROOT / ".zen") == []
