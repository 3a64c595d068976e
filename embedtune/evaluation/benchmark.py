"""Query -> passage retrieval evaluation of several models on the same queries and corpus.

Every model encodes the whole corpus (all chunks are candidates), once at full size; Matryoshka
dimensions are truncations of those embeddings. Gains of each model over the first (the baseline) get a
paired bootstrap 95% CI over queries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger
from embedtune.evaluation.metrics import METRICS, RANK_DEPTH, paired_bootstrap_ci, per_query_metrics
from embedtune.models.api import is_api_embedder
from embedtune.models.devices import release_memory
from embedtune.models.encoding import encode, model_prompts, normalise, top_k

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.config import EvaluationConfig, ModelConfig
    from embedtune.models.api import ApiEmbedder, ApiSettings


@dataclass
class Benchmark:
    """Queries, candidate passages and relevance judgements (qrels: query id -> {passage id: grade})."""

    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, dict[str, int]]
    document_of: dict[str, str] | None = None  # corpus holds chunks (`by_best_chunk`): chunk id -> document id

    def __iter__(self) -> Iterator[Any]:  # `queries, corpus, qrels = benchmark`
        return iter((self.queries, self.corpus, self.qrels))


def pairs_to_benchmark(test_pairs: Sequence[dict[str, Any]], chunks: Sequence[dict[str, Any]]) -> Benchmark:
    """Held-out synthetic queries as a benchmark: every chunk of the corpus is a candidate."""
    queries = {pair["id"]: pair["query"] for pair in test_pairs}
    corpus = {chunk["chunk_id"]: chunk["text"] for chunk in chunks}
    qrels = {pair["id"]: {pair["positive_id"]: 1} for pair in test_pairs}
    return Benchmark(queries, corpus, qrels)


def by_best_chunk(benchmark: Benchmark, tokenizer: Any, chunking: Any) -> Benchmark:
    """The same queries and judgements over the documents cut into chunks as the pipeline cuts them
    (`embedtune.data.chunking`); `evaluate_models` then ranks each document by its best chunk (MaxP, Dai &
    Callan 2019), so no document is cut at the model's `max_seq_length`.

    Example:
        >>> scifact = load_beir("scifact-dev", "train")
        >>> chunked = by_best_chunk(scifact, load_tokenizer("all-MiniLM-L6-v2"), ChunkingConfig())
        >>> report = evaluate_models({"base": base, "tuned": tuned}, chunked)  # ranks the 5,183 abstracts
    """
    from embedtune.data.chunking import chunk_documents

    documents = [{"doc_id": doc_id, "source": doc_id, "title": "", "text": text} for doc_id, text in benchmark.corpus.items()]
    corpus: dict[str, str] = {}
    document_of: dict[str, str] = {}
    for chunk in chunk_documents(documents, tokenizer, chunking):
        corpus[chunk["chunk_id"]], document_of[chunk["chunk_id"]] = chunk["text"], chunk["doc_id"]
    chunked = set(document_of.values())
    for doc_id, text in benchmark.corpus.items():  # a document too short to give a chunk is still a candidate
        if doc_id not in chunked:
            corpus[f"{doc_id}#whole"], document_of[f"{doc_id}#whole"] = text, doc_id
    return Benchmark(benchmark.queries, corpus, benchmark.qrels, document_of)


def rank_documents(chunk_ids: Sequence[str], document_of: Mapping[str, str]) -> list[str]:
    """Chunk ranking -> document ranking, each document at its best chunk's place."""
    return list(dict.fromkeys(document_of[chunk_id] for chunk_id in chunk_ids))


def search_depth(n_passages: int, document_of: Mapping[str, str] | None) -> int:
    """Passages to retrieve per query: RANK_DEPTH, or 4x that over chunks so that RANK_DEPTH documents remain."""
    return RANK_DEPTH if document_of is None else min(n_passages, 4 * RANK_DEPTH)


def rankings_of(indices: Any, query_ids: Sequence[str], corpus_ids: Sequence[str],
                document_of: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Search results (row i: corpus positions for query i) -> query id -> ranked ids: passages, or with
    `document_of` (the corpus holds chunks) documents, each at its best chunk's place, RANK_DEPTH of them."""
    rankings = {qid: [corpus_ids[i] for i in row] for qid, row in zip(query_ids, indices)}
    if document_of is None:
        return rankings
    return {qid: rank_documents(ranking, document_of)[:RANK_DEPTH] for qid, ranking in rankings.items()}


def corpus_sizes(corpus_ids: Sequence[str], document_of: Mapping[str, str] | None) -> dict[str, Any]:
    """`n_corpus` (documents), and `n_chunks` / `documents_by` when the corpus holds chunks: for reports."""
    if document_of is None:
        return {"n_corpus": len(corpus_ids)}
    return {"n_corpus": len(set(document_of.values())), "n_chunks": len(corpus_ids), "documents_by": "best chunk"}


def load_beir(folder: str | Path, split: str = "test") -> Benchmark:
    """Read a BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (header row, any line ending)."""
    folder = Path(folder)
    paths = {name: folder / name for name in ("corpus.jsonl", "queries.jsonl")}
    paths["qrels"] = folder / "qrels" / f"{split}.tsv"
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise EmbedtuneError(f"not a BEIR folder for split '{split}': missing {', '.join(missing)}")

    def read_jsonl(path: Path) -> dict[str, dict]:
        rows = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                    rows[str(row["_id"])] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise EmbedtuneError(f"{path}:{number} is not a JSON object with an '_id'") from None
        return rows

    corpus = {
        doc_id: f"{row.get('title', '')} {row.get('text', '')}".strip()
        for doc_id, row in read_jsonl(paths["corpus.jsonl"]).items()
    }
    all_queries = {qid: str(row.get("text", "")) for qid, row in read_jsonl(paths["queries.jsonl"]).items()}
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(paths["qrels"].read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.strip().split("\t")
        if len(fields) < 3 or (number == 1 and not fields[2].lstrip("-").isdigit()):
            continue  # header or blank line
        qid, doc_id, score = fields[0], fields[1], int(fields[2])
        if score > 0 and qid in all_queries and doc_id in corpus:
            qrels.setdefault(qid, {})[doc_id] = score
    if not qrels:
        raise EmbedtuneError(f"{paths['qrels']} has no positive judgements for known queries and documents")
    queries = {qid: all_queries[qid] for qid in qrels}
    return Benchmark(queries, corpus, qrels)


def evaluate_models(
    models: Mapping[str, SentenceTransformer | ApiEmbedder],
    benchmark: Benchmark,
    config: EvaluationConfig | None = None,
    dims: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Evaluation report: mean metrics per model x dimension, gains vs the first model with CIs.

    Args:
        models: name -> loaded model, the baseline first (`load_models` makes them). Each model encodes
            with the prompts it carries (`model.prompts`, set from its `ModelSpec` by `load_embedder`, or
            saved with it); an API model (`embedtune.models.api`) sends queries and passages with the
            query/document type its API wants, after its cost estimate (refused above `max_cost_usd`).
        benchmark: the queries, the candidate passages (all of them are ranked) and the judgements.
        config: batch size, bootstrap samples and seed (`EvaluationConfig()` when None).
        dims: Matryoshka truncations to score besides each model's full dimension.

    Returns:
        `{"n_queries", "n_corpus", "metrics", "models": {name: {dim: {metric: mean}}},
        "gains": {name: {dim: {metric: {"gain", "ci_low", "ci_high"}}}}, "encode_seconds"}`, and
        `"api_usage": {name: {"tokens", "requests", "retries", "cost_usd", ...}}` when an API model ran.

    Example:
        >>> report = evaluate_models({"base": base, "tuned": tuned}, load_beir("scifact-dev", "train"))
        >>> report["gains"]["tuned"]["384"]["ndcg@10"]["ci_low"] > 0  # significant at full dim?
    """
    from embedtune.config import EvaluationConfig

    config = config or EvaluationConfig()
    queries, corpus, qrels = benchmark
    batch_size, bootstrap_samples, seed = config.batch_size, config.bootstrap_samples, config.seed
    if not queries:
        raise EmbedtuneError("no evaluation queries: the test split is empty (add documents or raise split.test_fraction)")
    query_ids, corpus_ids = sorted(queries), list(corpus)
    report: dict[str, Any] = {
        "n_queries": len(query_ids),
        **corpus_sizes(corpus_ids, benchmark.document_of),
        "metrics": list(METRICS),
        "models": {},
        "gains": {},
        "encode_seconds": {},
    }
    per_query: dict[str, dict[str, dict[str, Any]]] = {}
    query_texts, corpus_texts = [queries[q] for q in query_ids], [corpus[c] for c in corpus_ids]
    api_models = {name: model for name, model in models.items() if is_api_embedder(model)}
    for model in api_models.values():  # every estimate (and refusal) before anything is sent or encoded
        model.check_budget(query_texts, corpus_texts)
    for name, model in models.items():
        started = time.perf_counter()
        query_prefix, document_prefix = model_prompts(model)
        if name in api_models:  # the query / document type its API wants; not in the embedding cache
            full_queries = model.encode(query_texts, query_prefix, input_type="query")
            full_corpus = model.encode(corpus_texts, document_prefix, input_type="document")
            usage = report.setdefault("api_usage", {})[name] = model.usage()
            logger.info("%s: %d tokens%s, %d requests, %d retries, $%.4f", name, usage["tokens"],
                        " (estimated)" if usage["tokens_estimated"] else "", usage["requests"], usage["retries"],
                        usage["cost_usd"])
        else:
            full_queries = encode(model, query_texts, query_prefix, batch_size)
            full_corpus = encode(model, corpus_texts, document_prefix, batch_size)
            release_memory(str(getattr(model, "device", "cpu")))  # next model gets the GPU's cache back
        report["encode_seconds"][name] = round(time.perf_counter() - started, 2)
        model_dims = [d for d in (dims or []) if d < full_queries.shape[1]]
        per_query[name] = {}
        report["models"][name] = {}
        for dim in [full_queries.shape[1], *model_dims]:
            depth = search_depth(len(corpus_ids), benchmark.document_of)
            indices, _ = top_k(normalise(full_queries, dim), normalise(full_corpus, dim), depth)
            rankings = rankings_of(indices, query_ids, corpus_ids, benchmark.document_of)
            values = per_query_metrics(rankings, qrels)
            per_query[name][str(dim)] = values
            report["models"][name][str(dim)] = {metric: float(v.mean()) for metric, v in values.items()}
        logger.info("evaluated %s: NDCG@10 %.4f", name, report["models"][name][str(full_queries.shape[1])]["ndcg@10"])
    names = list(models)
    for name in names[1:]:
        report["gains"][name] = {
            dim: {
                metric: paired_bootstrap_ci(per_query[names[0]][dim][metric], values[metric], bootstrap_samples, seed)
                for metric in ("ndcg@10", "mrr@10", "recall@10")
            }
            for dim, values in per_query[name].items()
            if dim in per_query[names[0]]
        }
    return report


def load_models(
    names: Sequence[str], model_config: ModelConfig | None = None, api_settings: ApiSettings | None = None
) -> dict[str, Any]:
    """name -> an encoder for `evaluate_models`: a SentenceTransformer for a local name or folder, the API
    client for `provider:model` (`openai:text-embedding-3-large`, `cohere:embed-v4.0`, ...).

    An API model whose key is not in the environment is an error naming the variable, never replaced
    by another model. Explicit prompts of `model_config` apply to every model, API ones included.

    Example:
        >>> models = load_models(["all-MiniLM-L6-v2", "voyage:voyage-3.5"])  # needs $VOYAGE_API_KEY
        >>> report = evaluate_models(models, load_beir("scifact", "test"))
    """
    from embedtune.config import ModelConfig
    from embedtune.models.api import api_embedder
    from embedtune.models.catalog import is_api_spec
    from embedtune.models.loading import load_embedder, load_options
    from embedtune.models.spec import resolve_spec

    model_config = model_config or ModelConfig()
    prompts = (model_config.query_prompt, model_config.document_prompt)  # explicit ones apply to every model
    loaded: dict[str, Any] = {}
    for name in names:
        spec = resolve_spec(name, *prompts)
        if is_api_spec(name):
            embedder = api_embedder(name, api_settings)
            embedder.prompts = dict(spec.prompts)
            loaded[name] = embedder
        else:
            loaded[name] = load_embedder(spec, model_config.max_seq_length, model_config.device,
                                         **load_options(model_config))  # trust_remote_code, dtype
    return loaded


def full_dim(report: Mapping[str, Any], model: str) -> str:
    return max(report["models"][model], key=int)
