"""API embedders against loopback servers speaking each provider's API (tests/api_servers.py): the
query/document types and dimensions sent, batching at the provider's maximum, retries honouring
Retry-After, one-line errors without the key, token and cost accounting, the estimate before a run, and
API models in `compare` and `evaluate`."""

from __future__ import annotations

import json
import logging
from typing import ClassVar

import numpy as np
import pytest

from embedtune import EmbedtuneError
from embedtune.evaluation import leaderboard as compare
from embedtune.evaluation.benchmark import evaluate_models, load_beir, load_models
from embedtune.models.api import (
    PRICES,
    PRICES_DATE,
    ApiAuthError,
    ApiError,
    ApiRequestError,
    ApiRetriesExhausted,
    ApiSettings,
    api_embedder,
    check_api_models,
    estimate_cost,
    make_api_embedder,
)
from embedtune.models.api.transport import retry_after_seconds, server_message
from embedtune.reporting.leaderboard import to_html
from tests.api_servers import DIM, SECRET, serve

QUERIES = {"q1": "how do pods share storage", "q2": "proof sourdough overnight", "q3": "pulsar radio beams"}
CORPUS = {
    "kube": "pods share storage and a network namespace",
    "bread": "proof the sourdough overnight in the fridge",
    "star": "pulsars sweep radio beams past the earth",
    "chess": "the sicilian defence answers e4 with c5",
}
QRELS = {"q1": {"kube": 1}, "q2": {"bread": 1}, "q3": {"star": 1}}

# provider -> (spec, key variable, query type, document type, the field carrying the dimensions)
PROVIDERS = {
    "openai": ("openai:text-embedding-3-large", "OPENAI_API_KEY", None, None, "dimensions"),
    "cohere": ("cohere:embed-v4.0", "CO_API_KEY", "search_query", "search_document", "output_dimension"),
    "gemini": ("gemini:gemini-embedding-001", "GEMINI_API_KEY", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT",
               "outputDimensionality"),
    "voyage": ("voyage:voyage-3.5", "VOYAGE_API_KEY", "query", "document", "output_dimension"),
}
KEY_VARIABLES = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "CO_API_KEY", "COHERE_API_KEY", "GEMINI_API_KEY",
                 "GOOGLE_API_KEY", "VOYAGE_API_KEY", "EMBEDTUNE_EMBEDDINGS_API_KEY"]


@pytest.fixture(autouse=True)
def no_real_keys(monkeypatch):
    """Nothing from the developer's environment reaches these tests (nor a real endpoint)."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for provider in PROVIDERS:
        monkeypatch.delenv(f"EMBEDTUNE_{provider.upper()}_BASE_URL", raising=False)


def point_at(monkeypatch, provider: str, server, key: str = SECRET) -> str:
    spec, key_env, *_ = PROVIDERS[provider]
    monkeypatch.setenv(key_env, key)
    monkeypatch.setenv(f"EMBEDTUNE_{provider.upper()}_BASE_URL", server.url)
    return spec


def recording(embedder):
    waits: list[float] = []
    embedder.sleep = waits.append  # no real waiting; the waits are checked instead
    return waits


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_each_client_sends_its_apis_types_batches_and_counts_tokens_and_cost(provider, monkeypatch, caplog):
    spec, _, query_type, document_type, _ = PROVIDERS[provider]
    with serve(provider) as server:
        point_at(monkeypatch, provider, server)
        embedder = api_embedder(spec, ApiSettings(batch_size=3))
        with caplog.at_level(logging.DEBUG):
            queries = embedder.encode(list(QUERIES.values()), input_type="query")
            corpus = embedder.encode(list(CORPUS.values()), input_type="document")
    assert queries.shape == (3, DIM) and corpus.shape == (4, DIM)
    assert np.allclose(np.linalg.norm(corpus, axis=1), 1.0)
    assert [len(r["texts"]) for r in server.requests] == [3, 3, 1]  # batches of batch_size
    if query_type:  # the API's own names for a query and a document, on every text
        assert server.texts(query_type) == list(QUERIES.values())
        assert server.texts(document_type) == list(CORPUS.values())
    else:  # OpenAI has no such field: nothing extra is sent
        assert all("input_type" not in r["body"] for r in server.requests)
    assert all(not any(r["dims"]) for r in server.requests)  # full size unless asked
    ranking = np.argmax(queries @ corpus.T, axis=1)
    assert list(ranking) == [0, 1, 2]  # out-of-order answers (OpenAI, Voyage) were put back in order
    words = sum(len(t.split()) for t in [*QUERIES.values(), *CORPUS.values()])
    usage = embedder.usage()
    assert usage["requests"] == 3 and usage["retries"] == 0
    if provider == "gemini":  # batchEmbedContents reports no tokens: estimated from characters, and says so
        assert usage["tokens_estimated"] and usage["tokens"] > 0
    else:
        assert usage["tokens"] == words and not usage["tokens_estimated"]
    assert usage["cost_usd"] == pytest.approx(usage["tokens"] * PRICES[spec] / 1e6)
    assert SECRET not in caplog.text and SECRET not in repr(embedder)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_dimensions_are_asked_for_in_each_apis_field(provider, monkeypatch):
    spec, *_, field = PROVIDERS[provider]
    with serve(provider) as server:
        point_at(monkeypatch, provider, server)
        vectors = api_embedder(spec, ApiSettings(dimensions=16)).encode(["a b c"], input_type="document")
    assert vectors.shape == (1, 16)
    body = server.requests[0]["body"]
    sent = body["requests"][0][field] if provider == "gemini" else body[field]
    assert sent == 16


def test_batches_never_exceed_the_providers_maximum(monkeypatch):
    texts = [f"text number {i}" for i in range(200)]
    with serve("cohere") as server:  # answers 400 to more than 96 texts, as Cohere does
        point_at(monkeypatch, "cohere", server)
        vectors = api_embedder("cohere:embed-v4.0", ApiSettings(batch_size=500)).encode(texts)
    assert vectors.shape == (200, DIM)
    assert [len(r["texts"]) for r in server.requests] == [96, 96, 8]


def test_a_too_large_batch_is_one_clear_error_and_not_retried(monkeypatch):
    with serve("voyage", max_batch=2) as server:  # a server with a smaller limit than the client assumes
        point_at(monkeypatch, "voyage", server)
        embedder = api_embedder("voyage:voyage-3.5", ApiSettings(batch_size=3, max_retries=4))
        with pytest.raises(ApiRequestError) as raised:
            embedder.encode(["a", "b", "c"], input_type="document")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("voyage:voyage-3.5: the API rejected the request (400")
    assert "too many texts in one request: 3 > 2" in message  # Voyage's `detail`, read from its error body
    assert len(server.requests) == 1


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_refused_key_is_one_line_naming_the_variable_without_the_key(provider, monkeypatch, caplog):
    wrong = "sk-wrong-key-echoed-back-7781"
    spec, key_env, *_ = PROVIDERS[provider]
    with serve(provider) as server:  # the 401 body echoes the key it was sent
        point_at(monkeypatch, provider, server, key=wrong)
        with caplog.at_level(logging.DEBUG), pytest.raises(ApiAuthError) as raised:
            api_embedder(spec, ApiSettings(max_retries=3)).encode(["a"])
    message = str(raised.value)
    assert "\n" not in message and f"${key_env}" in message and "401" in message
    assert wrong not in message and "***" in message and wrong not in caplog.text
    assert len(server.requests) == 1  # not retried


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_429_waits_what_retry_after_says_then_succeeds(provider, monkeypatch):
    spec = PROVIDERS[provider][0]
    with serve(provider, script=[(429, {"Retry-After": "7"}), (429, {"retry-after-ms": "250"})]) as server:
        point_at(monkeypatch, provider, server)
        embedder = api_embedder(spec, ApiSettings(max_retries=3))
        waits = recording(embedder)
        vectors = embedder.encode(["a b"], input_type="query")
    assert vectors.shape == (1, DIM)
    assert waits == [7.0, 0.25]
    assert len(server.requests) == 3 and server.requests[0]["body"] == server.requests[2]["body"]  # resent as is
    assert embedder.usage()["retries"] == 2 and embedder.usage()["requests"] == 1


def test_5xx_backs_off_exponentially_and_gives_up_with_one_line(monkeypatch):
    with serve("cohere", script=[(503, {})] * 4) as server:
        point_at(monkeypatch, "cohere", server)
        embedder = api_embedder("cohere:embed-v4.0", ApiSettings(max_retries=3, backoff_s=1.0))
        waits = recording(embedder)
        with pytest.raises(ApiRetriesExhausted, match=r"failed after retries \(3 retries .*last: 503: scripted"):
            embedder.encode(["a"])
    assert len(server.requests) == 4
    assert len(waits) == 3 and all(0.75 * b <= w <= 1.25 * b for w, b in zip(waits, [1, 2, 4]))  # with jitter


def test_retry_after_forms_and_provider_error_bodies():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after_seconds({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after_seconds({"Retry-After": "soon"}) is None and retry_after_seconds({}) is None
    assert server_message(b'{"error": {"message": "slow down", "type": "rate"}}') == "slow down"
    assert server_message(b'{"message": "cohere says no"}') == "cohere says no"
    assert server_message(b'{"detail": "voyage says no"}') == "voyage says no"
    assert server_message(b"<html>\n bad gateway </html>") == "<html> bad gateway </html>"


def test_the_cost_is_estimated_before_sending_and_a_big_run_is_refused(monkeypatch):
    texts = ["x" * 400] * 1000  # ~100 tokens each at 4 characters per token
    estimate = estimate_cost("openai:text-embedding-3-large", texts)
    assert estimate.tokens == 100_000 and estimate.usd == pytest.approx(0.013) and estimate.priced
    assert "~100,000 tokens" in estimate.describe() and PRICES_DATE[:2] == "20"
    assert estimate_cost("openai:text-embedding-3-large", texts, {"openai:text-embedding-3-large": 1.0}).usd == 0.1
    assert not estimate_cost("openai:some-new-model", texts).priced
    with serve("openai") as server:
        point_at(monkeypatch, "openai", server)
        embedder = api_embedder("openai:text-embedding-3-large", ApiSettings(max_cost_usd=0.01))
        with pytest.raises(ApiError, match=r"estimated \$0\.01 .* above compare\.api_max_cost_usd \(\$0\.01\)"):
            embedder.check_budget(texts[:500], texts[500:])
        assert embedder.check_budget(texts[:10]).requests == 1
    assert server.requests == []  # nothing was sent


def test_missing_keys_skip_in_compare_but_fail_in_evaluate(monkeypatch, caplog):
    board_reasons = {}
    for spec in ("openai:text-embedding-3-large", "voyage:voyage-3.5", "cohere:embed-v4.0",
                 "gemini:gemini-embedding-001", "openai-compatible:x"):
        embedder, reason = make_api_embedder(spec, ApiSettings(base_url="http://127.0.0.1:9/v1"))
        assert embedder is None
        board_reasons[spec] = reason
    assert board_reasons["voyage:voyage-3.5"] == "no API key: set the environment variable VOYAGE_API_KEY"
    assert "CO_API_KEY (or COHERE_API_KEY)" in board_reasons["cohere:embed-v4.0"]
    assert "GEMINI_API_KEY" in board_reasons["gemini:gemini-embedding-001"]
    assert "EMBEDTUNE_EMBEDDINGS_API_KEY" in board_reasons["openai-compatible:x"]
    assert "compare.api_base_url" in make_api_embedder("openai-compatible:x", ApiSettings())[1]
    with pytest.raises(EmbedtuneError, match=r"^cohere:embed-v4.0: no API key: set the environment variable CO_API"):
        check_api_models(["all-MiniLM-L6-v2", "cohere:embed-v4.0"])  # `evaluate` checks this before any work
    with pytest.raises(ApiError, match="unknown API provider"):
        api_embedder("mystery:model")


def test_an_openai_compatible_candidate_is_ranked_in_compare_with_retries(monkeypatch, caplog):
    monkeypatch.setenv("EMBEDTUNE_TEST_EMBED_KEY", SECRET)
    with serve("openai", script=[(429, {"Retry-After": "0"})]) as server:
        api = ApiSettings(base_url=server.url, api_key_env="EMBEDTUNE_TEST_EMBED_KEY", batch_size=2, max_retries=3)
        with caplog.at_level(logging.DEBUG):
            board = compare.compare_candidates(["openai-compatible:bow-embed"], QUERIES, CORPUS, QRELS,
                                               compare.CompareSettings(bootstrap_samples=100), api)
    # 3 queries + 4 passages in batches of 2 = 2 + 2 requests, plus the one answered 429 and retried
    assert [len(r["texts"]) for r in server.requests] == [2, 2, 1, 2, 2]
    assert all(r["headers"]["Authorization"] == f"Bearer {SECRET}" and r["body"]["model"] == "bow-embed"
               for r in server.requests)
    candidate = board["candidates"][0]
    assert candidate["kind"] == "api" and candidate["dim"] == DIM and candidate["api_requests"] == 4
    assert candidate["api_tokens"] == sum(len(t.split()) for t in [*QUERIES.values(), *CORPUS.values()])
    full = next(r for r in board["rows"] if r["dim"] == DIM and r["precision"] == "float32")
    assert full["ndcg@10"] == pytest.approx(1.0)
    assert board["best"]["model"] == "openai-compatible:bow-embed" and board["best_for_finetune"] is None
    assert SECRET not in caplog.text and SECRET not in json.dumps(board) and SECRET not in to_html(board)


def test_compare_sends_cohere_its_query_and_document_types_and_skips_a_refused_key(monkeypatch):
    with serve("cohere") as server, serve("voyage", key="another-key") as refusing:
        point_at(monkeypatch, "cohere", server)
        point_at(monkeypatch, "voyage", refusing)  # the key set is not the one this server accepts
        board = compare.compare_candidates(
            ["cohere:embed-v4.0", "voyage:voyage-3.5"], QUERIES, CORPUS, QRELS,
            compare.CompareSettings(bootstrap_samples=100, precisions=["float32"]), ApiSettings(max_retries=1))
    assert sorted(server.texts("search_query")) == sorted(QUERIES.values())
    assert sorted(server.texts("search_document")) == sorted(CORPUS.values())
    cohere = board["candidates"][0]
    assert cohere["model"] == "cohere:embed-v4.0" and cohere["api_cost_usd"] == pytest.approx(
        cohere["api_tokens"] * 0.12 / 1e6)
    assert [r["dim"] for r in board["rows"]] == [DIM]  # the catalog's 1024/512/256 exceed the server's 32
    skipped = board["skipped"][0]
    assert skipped["model"] == "voyage:voyage-3.5" and "refused the key in $VOYAGE_API_KEY (401" in skipped["reason"]
    assert SECRET not in skipped["reason"]


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


def write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in CORPUS.items()))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in QUERIES.items()))
    rows = "".join(f"{q}\t{d}\t1\n" for q, judged in QRELS.items() for d in judged)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


def test_evaluate_runs_api_models_on_a_beir_folder(tmp_path, monkeypatch):
    """`evaluate`'s logic (steps.evaluation.evaluate_benchmark calls exactly these two) with two API models."""
    benchmark = load_beir(write_beir(tmp_path / "beir"), "test")
    with serve("gemini") as gemini, serve("voyage", script=[(503, {"Retry-After": "0"})]) as voyage:
        point_at(monkeypatch, "gemini", gemini)
        point_at(monkeypatch, "voyage", voyage)
        models = load_models(["gemini:gemini-embedding-001", "voyage:voyage-3.5"],
                             api_settings=ApiSettings(max_retries=2))
        report = evaluate_models(models, benchmark, dims=[16])
    assert gemini.texts("RETRIEVAL_QUERY") == [QUERIES[q] for q in sorted(QUERIES)]
    assert gemini.texts("RETRIEVAL_DOCUMENT") == list(CORPUS.values())
    assert voyage.texts("query") == [QUERIES[q] for q in sorted(QUERIES)] * 2  # answered 503, then resent
    assert voyage.texts("document") == list(CORPUS.values())
    assert report["models"]["gemini:gemini-embedding-001"][str(DIM)]["ndcg@10"] == pytest.approx(1.0)
    assert set(report["models"]["voyage:voyage-3.5"]) == {str(DIM), "16"}
    assert report["gains"]["voyage:voyage-3.5"][str(DIM)]["ndcg@10"]["gain"] == pytest.approx(0.0)
    usage = report["api_usage"]
    assert usage["voyage:voyage-3.5"]["retries"] == 1 and usage["voyage:voyage-3.5"]["requests"] == 2
    assert usage["gemini:gemini-embedding-001"]["tokens_estimated"] is True
    assert SECRET not in json.dumps(report)


def test_evaluate_refuses_an_api_model_without_its_key(tmp_path):
    with pytest.raises(ApiAuthError, match=r"voyage:voyage-3.5: no API key: set the environment variable VOYAGE_API"):
        load_models(["voyage:voyage-3.5"])


def test_an_api_embedder_as_the_teachers_dense_half(monkeypatch):
    """teacher.kind api: the hybrid teacher with the API model's vectors (documents and queries typed)."""
    pytest.importorskip("bm25s")
    from embedtune.config import TeacherConfig
    from embedtune.teacher.labels import build_teacher

    class Student:  # build_teacher reads only the student's prompts and device here
        prompts: ClassVar[dict[str, str]] = {}
        device = "cpu"

    chunks = [{"chunk_id": key, "doc_id": key, "text": text, "position": 0} for key, text in CORPUS.items()]
    validation = [{"query": QUERIES[q], "positive_id": next(iter(QRELS[q]))} for q in QRELS]
    with serve("cohere") as server:
        point_at(monkeypatch, "cohere", server)
        teacher, report = build_teacher(Student(), chunks, np.zeros((4, 3)), validation,
                                        TeacherConfig(kind="api", api_model="cohere:embed-v4.0"))
        scores = teacher.score([QUERIES["q2"]], [[0, 1, 3]])
    assert scores[0].shape == (3,) and int(np.argmax(scores[0])) == 1  # the sourdough passage
    assert server.texts("search_document") == list(CORPUS.values())
    assert QUERIES["q2"] in server.texts("search_query")
    assert report["teacher"].startswith("hybrid(cohere:embed-v4.0, bm25 weight")
    assert report["api_usage"]["requests"] >= 2 and report["teacher_ndcg_at_10"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="teacher.api_model"):
        TeacherConfig(kind="api")
