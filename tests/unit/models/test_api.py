"""API embedders: OpenAI-compatible candidates against a loopback server: batches, retries, tokens, cost, skips."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import threading
from typing import Any

import numpy as np
import pytest

from embedtune.evaluation import leaderboard as compare
from embedtune.models.api import ApiSettings, make_api_embedder
from embedtune.reporting.leaderboard import to_html
from tests.loopback import JSONHandler

SECRET = "sk-test-embeddings-do-not-log-41d2"


QUERIES = {"q1": "how do pods share storage", "q2": "proof sourdough overnight", "q3": "pulsar radio beams"}


CORPUS = {
    "kube": "pods share storage and a network namespace",
    "bread": "proof the sourdough overnight in the fridge",
    "star": "pulsars sweep radio beams past the earth",
    "chess": "the sicilian defence answers e4 with c5",
}


QRELS = {"q1": {"kube": 1}, "q2": {"bread": 1}, "q3": {"star": 1}}


DIM = 32


def bag_of_words(text: str) -> list[float]:
    """A deterministic embedding: hashed word counts, so shared words mean similar vectors."""
    vector = np.zeros(DIM)
    for word in text.lower().split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return vector.tolist()


class _EmbeddingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fail_first_with: int | None = 429):
        super().__init__(("127.0.0.1", 0), _EmbeddingHandler)
        self.requests: list[dict[str, Any]] = []
        self.fail_first_with = fail_first_with
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _EmbeddingHandler(JSONHandler):
    def do_POST(self):
        body = self.read_json()
        server: _EmbeddingServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            first = len(server.requests) == 1
        if first and server.fail_first_with:
            status = server.fail_first_with
            self.send_json(status, {"error": {"message": "try again", "type": "rate_limit"}}, {"Retry-After": "0"})
            return
        inputs = body["input"]
        data = [{"object": "embedding", "index": i, "embedding": bag_of_words(text)} for i, text in enumerate(inputs)]
        data.reverse()  # servers may answer out of order: `index` decides
        tokens = sum(len(text.split()) for text in inputs)
        self.send_json(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@pytest.fixture
def server(request):
    instance = _EmbeddingServer(getattr(request, "param", 429))
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    try:
        yield instance
    finally:
        instance.shutdown()
        instance.server_close()


def test_openai_compatible_candidate_is_ranked_with_retries_batches_and_tokens(server, monkeypatch, caplog):
    monkeypatch.setenv("EMBEDTUNE_TEST_EMBED_KEY", SECRET)
    api = ApiSettings(base_url=server.url, api_key_env="EMBEDTUNE_TEST_EMBED_KEY", batch_size=2, max_retries=3,
                      timeout_s=10)
    with caplog.at_level(logging.DEBUG):
        board = compare.compare_candidates(["openai-compatible:bow-embed"], QUERIES, CORPUS, QRELS,
                                           compare.CompareSettings(bootstrap_samples=100), api)

    assert server.requests[0]["path"].endswith("/embeddings")
    # 3 queries + 4 passages in batches of 2 = 2 + 2 requests, plus the one answered 429 and retried
    assert len(server.requests) == 5
    assert [len(r["body"]["input"]) for r in server.requests[1:]] == [2, 1, 2, 2]
    assert server.requests[0]["body"]["input"] == server.requests[1]["body"]["input"]  # the retry resends it
    assert all(r["auth"] == f"Bearer {SECRET}" and r["body"]["model"] == "bow-embed" for r in server.requests)
    candidate = board["candidates"][0]
    assert candidate["kind"] == "api" and candidate["dim"] == DIM
    assert candidate["api_requests"] == 4
    assert candidate["api_tokens"] == sum(len(t.split()) for t in [*QUERIES.values(), *CORPUS.values()])
    full = next(r for r in board["rows"] if r["dim"] == DIM and r["precision"] == "float32")
    assert full["ndcg@10"] == pytest.approx(1.0)  # out-of-order answers were put back in order
    assert board["best"]["model"] == "openai-compatible:bow-embed"
    assert board["best_for_finetune"] is None  # an API model cannot be fine-tuned here
    assert SECRET not in caplog.text and SECRET not in json.dumps(board) and SECRET not in to_html(board)


def test_catalog_price_gives_the_token_cost(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the SDK's own override of the OpenAI endpoint
    embedder, reason = make_api_embedder("openai:text-embedding-3-small", ApiSettings(max_retries=2))
    assert reason == ""
    embeddings = embedder.encode(["one two three", "four five"], prompt="")
    assert embeddings.shape == (2, DIM)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0)
    assert embedder.prompt_tokens == 5 and embedder.requests == 1
    assert embedder.cost_usd == pytest.approx(5 * 0.02 / 1_000_000)  # $0.02 per 1M tokens


@pytest.mark.parametrize("server", [503], indirect=True)
def test_a_5xx_is_retried_too(server, monkeypatch):
    monkeypatch.setenv("EMBEDTUNE_TEST_EMBED_KEY", SECRET)
    embedder, _ = make_api_embedder("openai-compatible:bow-embed", ApiSettings(
        base_url=server.url, api_key_env="EMBEDTUNE_TEST_EMBED_KEY", max_retries=2, timeout_s=10))
    assert embedder.encode(["a b"]).shape == (1, DIM)
    assert len(server.requests) == 2


def test_missing_keys_and_stubs_skip_with_a_message(monkeypatch, minilm_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("EMBEDTUNE_EMBEDDINGS_API_KEY", raising=False)
    monkeypatch.setenv("VOYAGE_API_KEY", "set-but-stub")
    board = compare.compare_candidates(
        ["openai:text-embedding-3-large", "voyage:voyage-3.5", "openai-compatible:x", minilm_path],
        QUERIES, CORPUS, QRELS, compare.CompareSettings(bootstrap_samples=100, precisions=["float32"]),
        ApiSettings(base_url="http://127.0.0.1:9/v1"),
    )
    reasons = {s["model"]: s["reason"] for s in board["skipped"]}
    assert "OPENAI_API_KEY" in reasons["openai:text-embedding-3-large"]
    assert "OpenAI-compatible" in reasons["voyage:voyage-3.5"]
    assert "EMBEDTUNE_EMBEDDINGS_API_KEY" in reasons["openai-compatible:x"]
    assert [c["spec"] for c in board["candidates"]] == [minilm_path]


def test_an_unreachable_api_skips_that_candidate_only(monkeypatch, minilm_path):
    monkeypatch.setenv("EMBEDTUNE_TEST_EMBED_KEY", SECRET)
    board = compare.compare_candidates(
        ["openai-compatible:gone", minilm_path], QUERIES, CORPUS, QRELS,
        compare.CompareSettings(bootstrap_samples=100, precisions=["float32"]),
        ApiSettings(base_url="http://127.0.0.1:9/v1", api_key_env="EMBEDTUNE_TEST_EMBED_KEY", max_retries=0,
                    timeout_s=5),
    )
    assert board["skipped"][0]["model"] == "openai-compatible:gone"
    assert "failed after retries" in board["skipped"][0]["reason"] and SECRET not in board["skipped"][0]["reason"]
    assert len(board["candidates"]) == 1
