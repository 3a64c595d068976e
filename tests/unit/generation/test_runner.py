"""A fake distilabel LLM driving `DistilabelQueryGenerator` end to end, in pipeline and direct mode."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import distilabel  # noqa: F401  (a core dependency)
import pytest

from embedtune.config import GenerationConfig
from embedtune.generation.distilabel_pipeline import distilabel_run_context
from embedtune.generation.prompts import PROMPT_VERSION
from embedtune.generation.runner import DistilabelQueryGenerator
from tests.unit.generation.fakes import CHUNKS, FakeLLM


def _fake_generator(tmp_path: Path) -> DistilabelQueryGenerator:
    config = GenerationConfig(cache_dir=str(tmp_path / "distilabel"), corpus_description="ZenML docs")
    return DistilabelQueryGenerator(
        config, FakeLLM(), {"max_new_tokens": 32}, "fake:llm", batch_size=2, price_per_1k=(1.0, 2.0)
    )


def _check_rows(rows, queries_per_chunk):
    assert len(rows) == len(CHUNKS) * queries_per_chunk
    for chunk in CHUNKS:
        mine = [row for row in rows if row.chunk_id == chunk["chunk_id"]]
        assert [row.style for row in mine] == ["question", "keyword", "question"][:queries_per_chunk]
    good = [row for row in rows if row.chunk_id != "doc-c#0"]
    assert all(row.query for row in good)
    assert good[0].query == "What does An mean?" and good[1].query == "an keywords"
    bad = [row for row in rows if row.chunk_id == "doc-c#0"]
    assert all(row.query is None and row.raw == "I refuse {not json" for row in bad)
    assert all(row.prompt_version == PROMPT_VERSION and row.generator == "fake:llm" for row in rows)
    assert all(row.completion_tokens == 9 and row.prompt_tokens > 0 for row in rows)


def test_fake_llm_end_to_end_through_pipeline(tmp_path):
    generator = _fake_generator(tmp_path)
    root = logging.getLogger()
    marker_handler = logging.NullHandler()
    root.addHandler(marker_handler)
    handlers_before = list(root.handlers)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    custom = signal.getsignal(signal.SIGTERM)
    try:
        rows = generator.generate(CHUNKS, 3)
        assert signal.getsignal(signal.SIGTERM) is custom  # the caller's handler is back
        assert root.handlers == handlers_before  # and so are the root log handlers
    finally:
        signal.signal(signal.SIGTERM, previous)
        root.removeHandler(marker_handler)
    _check_rows(rows, 3)
    usage = generator.usage()
    assert usage["mode"] == "pipeline" and usage["requests"] == 9 and usage["parsed"] == 6
    assert usage["completion_tokens"] == 81
    assert usage["cost_usd"] == pytest.approx(usage["prompt_tokens"] / 1000 + 81 * 2 / 1000)
    # distilabel's cache: the same request again is served from the cache directory
    again = _fake_generator(tmp_path).generate(CHUNKS, 3)
    assert [row.to_dict() for row in again] == [row.to_dict() for row in rows]


def test_fake_llm_end_to_end_direct_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDTUNE_DISTILABEL_MODE", "direct")
    generator = _fake_generator(tmp_path)
    rows = generator.generate(CHUNKS, 2)
    _check_rows(rows, 2)
    assert generator.usage()["mode"] == "direct"
    assert list((tmp_path / "distilabel" / "direct").glob("*.jsonl"))  # resume journal


def test_context_manager_restores_on_error():
    previous = signal.getsignal(signal.SIGINT)
    handler = logging.NullHandler()
    logging.getLogger().addHandler(handler)
    try:
        with pytest.raises(RuntimeError), distilabel_run_context():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            assert handler not in logging.getLogger().handlers
            raise RuntimeError("boom")
        assert handler in logging.getLogger().handlers
        assert signal.getsignal(signal.SIGINT) is previous
    finally:
        logging.getLogger().removeHandler(handler)
