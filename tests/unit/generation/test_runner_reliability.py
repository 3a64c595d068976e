"""LLM faults against a loopback OpenAI-compatible server that misbehaves on purpose (tests/fault_server.py):
retries with backoff, bad answers kept as failed rows and counted, fatal errors stop at once with one
clear message and no key in it, and an interrupted generation resumes without asking again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from embedtune import EmbedtuneError
from embedtune.config import FilterConfig, GenerationConfig
from embedtune.generation import make_generator
from embedtune.generation.filters import build_pairs, filter_pairs
from tests.conftest import PROJECT_ROOT
from tests.fault_server import fault_server

pytest.importorskip("openai", reason="the openai extra is installed by `make install`")

SECRET = "sk-test-SECRET123"
KEY_ENV = "EMBEDTUNE_RELIABILITY_KEY"
WORDS = ["kubernetes", "sourdough", "pulsar", "tomato", "index", "sicilian", "glacier", "violin", "compiler"]


def chunk(number: int, fault: str | None = None) -> dict[str, str]:
    word = WORDS[number % len(WORDS)]
    marker = f" FAULT:{fault}" if fault else ""
    return {
        "chunk_id": f"doc-{number}#0",
        "doc_id": f"doc-{number}",
        "title": f"Topic {number}",
        "text": f"{word.title()} explained in detail, part {number}: how {word} setups behave in practice.{marker}",
    }


def openai_config(tmp_path: Path, base_url: str, **openai: object) -> GenerationConfig:
    options = {"model": "fault-model", "base_url": base_url, "api_key_env": KEY_ENV, "max_retries": 3,
               "timeout_s": 10, "max_concurrency": 4, **openai}
    return GenerationConfig(backend="openai", cache_dir=str(tmp_path / "cache"), openai=options)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.delenv("EMBEDTUNE_DISTILABEL_MODE", raising=False)


def journal_rows(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for path in (tmp_path / "cache" / "direct").glob("*.jsonl")
            for line in path.read_text().splitlines() if line.strip()]


def test_429_and_5xx_are_retried_with_backoff_until_they_succeed(tmp_path):
    chunks = [chunk(0, "429x2"), chunk(1, "500x1"), chunk(2, "503x2"), chunk(3)]
    with fault_server() as (server, state):
        generator = make_generator(openai_config(tmp_path, server.base_url))
        started = time.perf_counter()
        rows = generator.generate(chunks, 1)
        seconds = time.perf_counter() - started
    assert [row.query for row in rows] == [f"how does {w} work" for w in WORDS[:4]]
    assert sorted(state.attempts.values()) == [1, 2, 3, 3]  # each failure retried, nothing more
    assert state.count() == 9 and state.count("ok") == 4
    assert seconds > 0.5  # the client waited (exponential backoff) before retrying
    assert generator.usage()["unanswered"] == 0 and generator.usage()["call_errors"] == {}


def test_bad_answers_and_timeouts_become_counted_failures_not_a_failed_run(tmp_path, caplog):
    faults = ["malformed", "empty", "null", "nochoices", "partial", "garbage", "timeout", "drop"]
    chunks = [chunk(i, fault) for i, fault in enumerate(faults)] + [chunk(8), chunk(9)]
    with fault_server(slow_seconds=2.5) as (server, state):
        config = openai_config(tmp_path, server.base_url, max_retries=1, timeout_s=1, max_concurrency=16)
        generator = make_generator(config)
        started = time.perf_counter()
        rows = generator.generate(chunks, 1)
        seconds = time.perf_counter() - started
    by_chunk = {row.chunk_id: row for row in rows}
    assert by_chunk["doc-8#0"].query == "how does compiler work" and by_chunk["doc-9#0"].query
    assert all(by_chunk[f"doc-{i}#0"].query is None for i in range(len(faults)))
    usage = generator.usage()
    assert usage["parsed"] == 2 and usage["failed"] == len(faults)
    assert usage["unparseable"] == 3  # empty, partial, garbage came back but hold no query
    assert usage["unanswered"] == 5 and sum(usage["call_errors"].values()) == 3  # malformed, timeout, drop
    # the slow prompt was retried at most once (max_retries=1; a retry may also die on a pooled connection
    # the dropped request closed) and the whole batch took seconds, not the server's slowness times retries
    assert 1 <= state.count("timeout") <= 2 and seconds < 15
    pairs = build_pairs(rows, chunks)
    kept, dropped = filter_pairs(pairs, FilterConfig())
    assert dropped["parse_failure"] == len(faults) and len(kept) == 2
    assert "got no answer" in caplog.text and "re-run retries only them" in caplog.text


def test_a_rejected_key_stops_at_once_with_one_clear_error_and_never_shows_the_key(tmp_path, caplog, capfd):
    with fault_server(status=401) as (server, state):
        generator = make_generator(openai_config(tmp_path, server.base_url, max_concurrency=2))
        with pytest.raises(EmbedtuneError, match=r"rejected the API key \(HTTP 401\)") as raised:
            generator.generate([chunk(i) for i in range(10)], 1)
    assert state.count() == 2  # the first batch only: 401 is not retried, the rest is not tried
    assert all(request.auth == f"Bearer {SECRET}" for request in state.requests)
    assert server.base_url in str(raised.value) and "re-run to resume" in str(raised.value)
    out, err = capfd.readouterr()
    assert SECRET not in str(raised.value) + caplog.text + out + err
    assert journal_rows(tmp_path) == []


def test_an_unreachable_endpoint_stops_with_a_clear_error(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = make_generator(openai_config(tmp_path, f"http://127.0.0.1:{port}/v1", max_retries=0))
    with pytest.raises(EmbedtuneError, match="cannot connect to the endpoint"):
        generator.generate([chunk(0)], 1)


def test_a_server_failing_every_call_stops_after_three_failed_batches(tmp_path):
    with fault_server() as (server, state):
        config = openai_config(tmp_path, server.base_url, max_retries=0, max_concurrency=1)
        with pytest.raises(EmbedtuneError, match=r"3 batches in a row failed.*InternalServerError"):
            make_generator(config).generate([chunk(i, "500") for i in range(8)], 1)
    assert state.count() == 3


CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {root!r})
    from embedtune.config import GenerationConfig
    from embedtune.generation import make_generator
    config = GenerationConfig.model_validate(json.loads({config!r}))
    chunks = json.loads({chunks!r})
    make_generator(config).generate(chunks, 2)
    print("FINISHED")
    """
)


def test_a_killed_generation_resumes_without_asking_again_for_finished_rows(tmp_path):
    chunks = [chunk(i) for i in range(12)]  # 24 prompts, 2 per request batch
    with fault_server(delay_seconds=0.25) as (server, state):
        config = openai_config(tmp_path, server.base_url, max_concurrency=2)
        script = tmp_path / "child.py"
        script.write_text(CHILD.format(root=str(PROJECT_ROOT), config=config.model_dump_json(), chunks=json.dumps(chunks)))
        child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=dict(os.environ), text=True)
        deadline = time.monotonic() + 120
        while state.count() < 8 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        output = child.communicate(timeout=30)[0]
        assert "FINISHED" not in output, "the child finished before it could be killed"
        finished = {row["row_id"] for row in journal_rows(tmp_path)}
        assert 4 <= len(finished) < 24
        first_run = state.count()

        state.delay_seconds = 0.0
        rows = make_generator(config).generate(chunks, 2)
        asked_again = state.prompts()[first_run:]
    assert len(asked_again) == 24 - len(finished)  # only the rows the killed run had not finished
    assert all(row.query for row in rows) and len(rows) == 24
    finished_prompts = {p for p in state.prompts()[:first_run]}
    answered_before = {p for p in finished_prompts if asked_again.count(p) == 0}
    assert len(answered_before) >= len(finished)


def test_pipeline_mode_also_resumes_from_the_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDTUNE_DISTILABEL_MODE", "pipeline")
    chunks = [chunk(0), chunk(1, "500x1"), chunk(2)]
    with fault_server() as (server, state):
        config = openai_config(tmp_path, server.base_url, max_retries=0, max_concurrency=1)
        first = make_generator(config).generate(chunks, 1)
        assert [row.query is None for row in first] == [False, True, False]
        asked_first = state.count()
        second = make_generator(config)
        rows = second.generate(chunks, 1)
        asked_again = state.prompts()[asked_first:]
    assert asked_first == 3 and len(asked_again) == 1 and "FAULT:500x1" in asked_again[0]
    assert all(row.query for row in rows)
    assert second.usage()["resumed_answers"] == 2 and second.usage()["mode"] == "pipeline"


def test_the_stored_share_foretells_what_the_next_run_reuses(tmp_path):
    """The run estimate's `stored_share` counts the prompts the answer store holds, and the run then reuses
    exactly those."""
    edited = {**chunk(1), "text": chunk(1)["text"] + " Edited since."}
    with fault_server() as (server, state):
        config = openai_config(tmp_path, server.base_url, max_concurrency=1)
        assert make_generator(config).stored_share([chunk(0), chunk(1)], 1) == 0.0  # nothing stored yet
        make_generator(config).generate([chunk(0), chunk(1), chunk(2)], 1)
        later = [chunk(0), edited, chunk(2), chunk(3)]
        share = make_generator(config).stored_share(later, 1)
        assert make_generator(config.model_copy(update={"reuse_answers": False})).stored_share(later, 1) == 0.0
        assert make_generator(config).stored_share([chunk(0)], 2) == 0.5  # per query: its first prompt is stored
        second = make_generator(config)
        second.generate(later, 1)
        assert state.count() == 5  # only the edited and the new chunk were asked
    assert share == 0.5 and second.usage()["reused_answers"] == 2


def test_a_later_run_asks_only_for_the_prompts_that_changed(tmp_path):
    edited = {**chunk(1), "text": chunk(1)["text"] + " Edited since."}
    renamed = {**chunk(0), "chunk_id": "moved-0#0", "doc_id": "moved-0"}  # same text under another file name
    with fault_server() as (server, state):
        config = openai_config(tmp_path, server.base_url, max_concurrency=1)
        first = make_generator(config).generate([chunk(0), chunk(1), chunk(2)], 1)
        assert state.count() == 3
        # 1. Another corpus (so another run and journal): chunk 0 renamed, chunk 1 edited, chunk 3 new.
        second = make_generator(config)
        rows = second.generate([renamed, edited, chunk(2), chunk(3)], 1)
        asked = state.prompts()[3:]
        assert len(asked) == 2 and any("Edited since" in prompt for prompt in asked)
        assert second.usage()["reused_answers"] == 2 and second.usage()["resumed_answers"] == 0
        assert rows[0].query == first[0].query and rows[2].query == first[2].query
        # 2. Switched off, every prompt is asked again.
        third = make_generator(config.model_copy(update={"reuse_answers": False}))
        third.generate([chunk(0), chunk(4)], 1)
        assert state.count() == 7 and third.usage()["reused_answers"] == 0
        # 3. Another seed never matches.
        make_generator(config.model_copy(update={"seed": 7})).generate([chunk(0)], 1)
        assert state.count() == 8
