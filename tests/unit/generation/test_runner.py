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


def test_per_chunk_prompts_write_every_query_of_a_chunk_in_one_call(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDTUNE_DISTILABEL_MODE", "direct")
    examples = tmp_path / "examples.txt"
    examples.write_text("how do I cache a step\n# a comment\n\nartifact store s3\n")
    config = GenerationConfig(cache_dir=str(tmp_path / "cache"), prompt_mode="per_chunk", example_queries=str(examples))
    kwargs = {"max_new_tokens": 32}
    generator = DistilabelQueryGenerator(config, FakeLLM(), kwargs, "fake:llm", batch_size=2)
    seen = []
    monkeypatch.setattr(generator, "_call_batch", lambda batch, inner=generator._call_batch: seen.append(
        (batch, dict(generator._call_kwargs))) or inner(batch))
    rows = generator.generate(CHUNKS, 3)

    assert sum(len(batch) for batch, _ in seen) == len(CHUNKS)  # one prompt per chunk, not per query
    messages = seen[0][0][0]["messages"]
    assert "- how do I cache a step\n- artifact store s3" in messages[0]["content"]  # the few-shot examples
    assert seen[0][1]["max_new_tokens"] == 96  # room for three answers
    assert kwargs["max_new_tokens"] == 32  # the backend's own kwargs are left alone
    good = [row for row in rows if row.chunk_id == "doc-a#0"]
    assert [(row.style, row.query) for row in good] == [
        ("question", "question about an"), ("keyword", "keyword about an"), ("question", "question 2 about an")
    ]
    assert all(row.query is None for row in rows if row.chunk_id == "doc-c#0")
    assert {row.prompt_version for row in rows} == {"llm-v2-fewshot"}
    assert sum(row.completion_tokens for row in good) == 9  # one answer's tokens shared by its queries
    usage = generator.usage()
    assert usage["requests"] == 3 and usage["queries"] == 9 and usage["parsed"] == 6 and usage["unparseable"] == 3


def test_per_query_prompts_keep_their_version_and_run_key_without_examples(tmp_path):
    generator = _fake_generator(tmp_path)
    assert generator.prompt_version == PROMPT_VERSION == "llm-v1"  # journals of earlier runs stay valid


def test_a_grammar_constrained_backend_gets_the_per_chunk_schema(tmp_path):
    config = GenerationConfig(cache_dir=str(tmp_path), prompt_mode="per_chunk", query_styles=["claim", "question"])
    kwargs = {"max_new_tokens": 40, "extra_generation_kwargs": {"response_format": {"schema": {"type": "object"}}}}
    generator = DistilabelQueryGenerator(config, FakeLLM(), kwargs, "fake:llm", hard_negative=True)
    call = generator._kwargs_for(3)
    assert call["max_new_tokens"] == 160  # three queries and the hard negative
    assert call["extra_generation_kwargs"]["response_format"]["schema"]["required"] == [
        "claim", "question", "claim_2", "hard_negative"
    ]
    assert kwargs["extra_generation_kwargs"]["response_format"]["schema"] == {"type": "object"}
