"""The backends by name: the openai backend against a loopback OpenAI-compatible server, the
in-process Hugging Face backend with a tiny random causal LM, and the errors that name the fix."""

from __future__ import annotations

import http.server
import sys
import threading
from typing import Any

import pytest

from embedtune import EmbedtuneError
from embedtune.config import GenerationConfig
from embedtune.generation import make_generator
from tests.loopback import JSONHandler
from tests.unit.generation.fakes import CHUNKS


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
    import embedtune.generation.backends  # noqa: F401
    from embedtune.generation.backends import BACKENDS

    assert {"llamacpp", "openai"} <= set(BACKENDS)
    assert sys.modules["embedtune.generation.backends"]


def test_vllm_without_its_package_is_a_clear_error_naming_the_fix():

    try:
        import vllm  # noqa: F401

        pytest.skip("vllm is installed here, so the missing-package message cannot be shown")
    except ImportError:
        pass
    with pytest.raises(EmbedtuneError, match="vllm backend needs the vllm package"):
        make_generator(GenerationConfig(backend="vllm", local_model={"model": "some/model"}))


# The in-process Hugging Face backend, wired end to end with a tiny random causal LM (its answers are
# noise: this checks the plumbing, rows and accounting, not query quality).

TRANSFORMERS_CHUNKS = [
    {"chunk_id": "a#0", "title": "Caching", "text": "Steps are cached when their code and inputs are unchanged."},
    {"chunk_id": "b#0", "title": "Stacks", "text": "A stack combines an orchestrator and an artifact store."},
]


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory, minilm_path):
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-causal-lm")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    GPT2LMHeadModel(GPT2Config(vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=32, n_positions=512)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_transformers_backend_returns_one_row_per_requested_query(tiny_causal_lm, tmp_path):
    config = GenerationConfig(
        backend="transformers",
        cache_dir=str(tmp_path / "cache"),
        local_model={
            "model": tiny_causal_lm,
            "device": "cpu",
            "max_new_tokens": 6,
            "chat_template": "{% for m in messages %}{{ m['content'] }}\n{% endfor %}",
        },
    )
    generator = make_generator(config)
    rows = generator.generate(TRANSFORMERS_CHUNKS, 2)
    assert [(r.chunk_id, r.style) for r in rows] == [
        ("a#0", "question"), ("a#0", "keyword"), ("b#0", "question"), ("b#0", "keyword")
    ]
    assert all(r.generator.startswith("transformers:") for r in rows)
    assert all(r.raw for r in rows)  # answered: noise is kept raw, and unparsable noise has query None
    usage = generator.usage()
    assert usage["requests"] == 4 and usage["answered"] == 4 and usage["completion_tokens"] > 0


def test_transformers_backend_needs_a_model():
    with pytest.raises(EmbedtuneError, match="needs generation.local_model.model"):
        make_generator(GenerationConfig(backend="transformers"))
