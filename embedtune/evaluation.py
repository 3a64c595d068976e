"""Query -> passage retrieval evaluation of several models on the same queries and corpus.

Every model encodes the whole corpus (all chunks are candidates), once at full size; Matryoshka
dimensions are truncations of those embeddings. Gains of each model over the first (the baseline) get a
paired bootstrap 95% CI over queries.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger
from embedtune.devices import release_memory
from embedtune.metrics import METRICS, RANK_DEPTH, paired_bootstrap_ci, per_query_metrics
from embedtune.retrieval import encode, normalise, top_k

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def inputs_fingerprint(paths: Sequence[str]) -> str:
    """Hash of every local file under `paths` (path, size, modification time); a hub id counts as itself.
    ZenML caches a step on its parameters, and a model re-exported to the same directory keeps its path:
    this is what makes the evaluation cache miss when a model or the benchmark changes."""
    digest = hashlib.sha256()
    for name in paths:
        root = Path(name).expanduser()
        digest.update(f"{name}\x1e".encode("utf-8", "surrogateescape"))
        files = sorted(root.rglob("*")) if root.is_dir() else [root] if root.is_file() else []
        for path in files:
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def pairs_to_benchmark(
    test_pairs: Sequence[dict[str, Any]], chunks: Sequence[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """Held-out synthetic queries as a benchmark: every chunk of the corpus is a candidate."""
    queries = {pair["id"]: pair["query"] for pair in test_pairs}
    corpus = {chunk["chunk_id"]: chunk["text"] for chunk in chunks}
    qrels = {pair["id"]: {pair["positive_id"]: 1} for pair in test_pairs}
    return queries, corpus, qrels


def load_beir(folder: str | Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
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
    return queries, corpus, qrels


def evaluate_models(
    models: Mapping[str, SentenceTransformer],
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    dims: Sequence[int] | None = None,
    query_prompt: str = "",
    document_prompt: str = "",
    batch_size: int = 64,
    bootstrap_samples: int = 1000,
    seed: int = 42,
) -> dict[str, Any]:
    """Evaluation report: mean metrics per model x dimension, gains vs the first model with CIs."""
    if not queries:
        raise EmbedtuneError("no evaluation queries: the test split is empty (add documents or raise split.test_fraction)")
    query_ids, corpus_ids = sorted(queries), list(corpus)
    report: dict[str, Any] = {
        "n_queries": len(query_ids),
        "n_corpus": len(corpus_ids),
        "metrics": list(METRICS),
        "models": {},
        "gains": {},
        "encode_seconds": {},
    }
    per_query: dict[str, dict[str, dict[str, Any]]] = {}
    for name, model in models.items():
        started = time.perf_counter()
        shipped = {} if query_prompt or document_prompt else getattr(model, "prompts", None) or {}  # catalog's
        query_prefix, document_prefix = shipped.get("query", query_prompt), shipped.get("document", document_prompt)
        full_queries = encode(model, [queries[q] for q in query_ids], query_prefix, batch_size)
        full_corpus = encode(model, [corpus[c] for c in corpus_ids], document_prefix, batch_size)
        report["encode_seconds"][name] = round(time.perf_counter() - started, 2)
        release_memory(str(getattr(model, "device", "cpu")))  # next model gets the GPU's cache back
        model_dims = [d for d in (dims or []) if d < full_queries.shape[1]]
        per_query[name] = {}
        report["models"][name] = {}
        for dim in [full_queries.shape[1], *model_dims]:
            indices, _ = top_k(normalise(full_queries, dim), normalise(full_corpus, dim), RANK_DEPTH)
            rankings = {qid: [corpus_ids[i] for i in row] for qid, row in zip(query_ids, indices)}
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


def full_dim(report: Mapping[str, Any], model: str) -> str:
    return max(report["models"][model], key=int)


def format_table(report: Mapping[str, Any]) -> str:
    """A plain-text table: one row per model x dimension, gains with their 95% CI."""
    header = f"{'model':<40} {'dim':>5} " + " ".join(f"{m:>9}" for m in METRICS) + "   NDCG@10 gain [95% CI]"
    lines = [header, "-" * len(header)]
    for name, by_dim in report["models"].items():
        for dim, values in sorted(by_dim.items(), key=lambda item: -int(item[0])):
            gain = report.get("gains", {}).get(name, {}).get(dim, {}).get("ndcg@10")
            gain_text = f"   {gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else ""
            label = name if len(name) <= 40 else "..." + name[-37:]
            lines.append(f"{label:<40} {dim:>5} " + " ".join(f"{values[m]:9.4f}" for m in METRICS) + gain_text)
    lines.append(f"({report['n_queries']} queries, {report['n_corpus']} candidate passages)")
    return "\n".join(lines)
