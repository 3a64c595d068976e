"""`generation.engine: ray` on a real Ray cluster: two nodes on 127.0.0.1 (one CPU each), started by Ray's own
`ray.cluster_utils.Cluster` under this test's tmp_path and stopped in teardown, against the loopback
OpenAI-compatible server of tests/fault_server.py (answers decided per prompt, so deterministic).

The Ray run must keep the same rows as the single-process run, with the same token accounting, its
requests must come from two Ray worker processes (one generation replica per node, seen by the server),
and a re-run with the same journal must not ask the server again."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path

import psutil
import pytest

from embedtune.config import FilterConfig, GenerationConfig
from embedtune.generation import make_generator
from embedtune.generation.filters import build_pairs, filter_pairs
from tests.fault_server import _Handler, fault_server

pytestmark = [pytest.mark.services, pytest.mark.slow]
pytest.importorskip("openai", reason="the openai extra is installed by `make install`")

KEY_ENV = "EMBEDTUNE_RAY_TEST_KEY"
WORDS = ["kubernetes", "sourdough", "pulsar", "tomato", "index", "sicilian", "glacier", "violin", "compiler",
         "harbour", "meadow", "lantern"]
QUERIES_PER_CHUNK = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path_factory, monkeypatch):
    """A head node and a worker node on 127.0.0.1 with one CPU each; yields the head's GCS address."""
    # A token of its own (nothing read from or written to ~/.ray), no usage report; set before Ray reads them.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    imported = "ray" in sys.modules
    import ray
    from ray._private import ray_constants
    from ray._raylet import Config
    from ray.cluster_utils import Cluster

    if imported:
        Config.initialize("")  # Ray caches the auth mode when first imported: read the environment again
    # Loopback only: Ray resolves "127.0.0.1" to the machine's outward address unless told it is one host.
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    temp_dir = tmp_path_factory.mktemp("ray")  # short: Ray's socket paths must fit in 107 characters
    monkeypatch.setenv("RAY_TMPDIR", str(temp_dir))  # Ray's "current cluster" file: <RAY_TMPDIR>/ray, not /tmp/ray
    (temp_dir / "ray").mkdir()
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "temp_dir": str(temp_dir), "dashboard_agent_listen_port": None}
    sigterm = signal.getsignal(signal.SIGTERM)  # a head node started here installs its own SIGTERM handler
    cluster = Cluster()
    try:
        cluster.add_node(**node, gcs_server_port=free_port(), include_dashboard=False)
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        signal.signal(signal.SIGTERM, sigterm)


class _PidHandler(_Handler):
    """The fault server's handler, also recording which process sent each request (on loopback, the owner of
    the client's socket): (pid, process name, parent pid: a Ray worker's parent is its node's raylet)."""

    def do_POST(self) -> None:
        port = self.client_address[1]
        pid = next((conn.pid for conn in psutil.net_connections("tcp4")
                    if conn.laddr and conn.laddr.port == port and conn.pid), None)
        process = psutil.Process(pid) if pid else None
        with self.server.lock_senders:
            self.server.senders.append((pid, process.name() if process else None, process.ppid() if process else None))
        super().do_POST()


def chunk(number: int) -> dict[str, str]:
    word = WORDS[number]
    return {"chunk_id": f"doc-{number}#0", "doc_id": f"doc-{number}", "title": f"Topic {number}",
            "text": f"{word.title()} explained in detail, part {number}: how {word} setups behave in practice."}


def generate(tmp_path: Path, base_url: str, cache: str, engine: str) -> tuple[list, dict, list]:
    """(generated rows, usage, kept pairs) of one generation over the 12 chunks."""
    openai = {"model": "fault-model", "base_url": base_url, "api_key_env": KEY_ENV, "max_retries": 1,
              "timeout_s": 20, "max_concurrency": 2}  # batches of 2: 12 batches to share between replicas
    config = GenerationConfig(backend="openai", cache_dir=str(tmp_path / cache), openai=openai, engine=engine,
                              ray={"replicas": 2, "num_cpus": 1})  # one replica per one-CPU node
    chunks = [chunk(number) for number in range(len(WORDS))]
    generator = make_generator(config)
    rows = generator.generate(chunks, QUERIES_PER_CHUNK)
    kept, _ = filter_pairs(build_pairs(rows, chunks), FilterConfig())
    return rows, generator.usage(), kept


@pytest.mark.timeout(300)
def test_ray_engine_keeps_the_rows_of_the_local_engine_and_resumes_from_its_journal(ray_cluster, tmp_path,
                                                                                    monkeypatch):
    import ray

    monkeypatch.setenv(KEY_ENV, "sk-test-ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)  # generation.ray.address unset: RAY_ADDRESS is used
    monkeypatch.delenv("EMBEDTUNE_DISTILABEL_MODE", raising=False)
    prompts = len(WORDS) * QUERIES_PER_CHUNK
    with fault_server(delay_seconds=0.05) as (server, state):  # no replica answers everything before the other
        server.RequestHandlerClass = _PidHandler
        server.senders, server.lock_senders = [], threading.Lock()
        local_rows, local_usage, local_kept = generate(tmp_path, server.base_url, "local", "local")
        assert state.count() == prompts and {pid for pid, _, _ in server.senders} == {os.getpid()}  # this process
        server.senders.clear()

        ray_rows, ray_usage, ray_kept = generate(tmp_path, server.base_url, "ray", "ray")
        assert state.count() == 2 * prompts
        assert not ray.is_initialized()  # the run connected for itself, so it disconnected afterwards

        replicas = set(server.senders)  # two Ray worker processes, each under its own node's raylet
        assert len({pid for pid, _, _ in replicas}) == 2 and len({raylet for _, _, raylet in replicas}) == 2, replicas
        assert all(name.startswith("ray::") for _, name, _ in replicas), replicas

        again_rows, again_usage, again_kept = generate(tmp_path, server.base_url, "ray", "ray")
        assert state.count() == 2 * prompts  # every answer came from the journal: no request at all

    assert [row.to_dict() for row in ray_rows] == [row.to_dict() for row in local_rows]
    assert ray_kept == local_kept and len(local_kept) >= len(WORDS)
    assert {row.query for row in local_rows} == {f"how does {word} work" for word in WORDS}
    accounting = ["requests", "answered", "parsed", "failed", "prompt_tokens", "completion_tokens", "cost_usd"]
    assert {key: ray_usage[key] for key in accounting} == {key: local_usage[key] for key in accounting}
    assert ray_usage["prompt_tokens"] == 50 * prompts and ray_usage["completion_tokens"] == 10 * prompts
    assert local_usage["mode"] == "direct" and ray_usage["mode"] == "ray" and ray_usage["resumed_answers"] == 0
    assert again_usage["resumed_answers"] == prompts and again_usage["prompt_tokens"] == 50 * prompts
    assert again_rows == ray_rows and again_kept == ray_kept
