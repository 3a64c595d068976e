"""Pick the right base model: every candidate on the same queries and corpus, one leaderboard.

For each candidate (a local SentenceTransformer id or folder, or an API model `provider:model`):
1. Encode the queries and the whole (sampled) corpus once, with the model's own prefixes (its ModelSpec);
   corpus docs/s is the encode throughput on this machine.
2. For every dimension (the full one and the Matryoshka truncations the model was trained for) and every
   precision (float32 / int8 / binary / binary + rescore, see embedtune.evaluation.quantization): rank the corpus,
   compute per-query NDCG@10 / MRR@10 / Recall@10 and a bootstrap 95% CI of each mean over queries.
3. Index size per 1M chunks for that dimension and precision.
4. The best configuration by a rule: `quality` (highest NDCG@10, float32 at full dim) or
   `quality_per_byte` (the smallest index whose NDCG@10 is within `tolerance` of the best).
   Non-commercial models are never picked unless allowed; API models are never the base for `finetune`.

The renderings (terminal, markdown, HTML) are in `embedtune.reporting.leaderboard`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedtune import EmbedtuneError, logger
from embedtune.evaluation.benchmark import corpus_sizes, rankings_of, search_depth
from embedtune.evaluation.metrics import paired_bootstrap_ci, per_query_metrics
from embedtune.evaluation.quantization import PRECISIONS, bytes_per_vector, index_bytes, search
from embedtune.models.catalog import is_api_spec
from embedtune.models.devices import hardware_summary
from embedtune.models.spec import ModelSpec, resolve_spec

LEADERBOARD_METRICS = ("ndcg@10", "mrr@10", "recall@10")
RULES = ("quality", "quality_per_byte")

Benchmark = tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]


@dataclass
class CompareSettings:
    precisions: Sequence[str] = PRECISIONS
    rule: str = "quality"
    tolerance: float = 0.01
    allow_noncommercial: bool = False
    batch_size: int = 32
    max_seq_length: int | None = None
    rescore_candidates: int = 100
    bootstrap_samples: int = 1000
    seed: int = 42
    trust_remote_code: bool = False  # the run's model.trust_remote_code / model.dtype
    dtype: str = "auto"


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------


def sample_benchmark(
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    max_queries: int | None = None,
    max_corpus: int | None = None,
    seed: int = 42,
) -> Benchmark:
    """A seeded sample: `max_queries` queries, all of their relevant documents, and seeded distractors
    filling the corpus up to `max_corpus` (the relevant ones are kept even beyond it)."""
    query_ids = sorted(q for q in queries if q in qrels)
    if max_queries and len(query_ids) > max_queries:
        query_ids = sorted(random.Random(seed).sample(query_ids, max_queries))
    kept_qrels = {q: dict(qrels[q]) for q in query_ids}
    relevant = {doc for judged in kept_qrels.values() for doc in judged if doc in corpus}
    corpus_ids = sorted(corpus)
    if max_corpus and len(corpus_ids) > max_corpus:
        others = [doc for doc in corpus_ids if doc not in relevant]
        random.Random(seed + 1).shuffle(others)
        keep = relevant | set(others[: max(0, max_corpus - len(relevant))])
        corpus_ids = [doc for doc in corpus_ids if doc in keep]
    return (
        {q: queries[q] for q in query_ids},
        {doc: corpus[doc] for doc in corpus_ids},
        kept_qrels,
    )


# ---------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------


@dataclass
class Encoded:
    queries: np.ndarray
    corpus: np.ndarray
    query_seconds: float
    corpus_seconds: float
    max_seq_length: int | None
    tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0


Encoder = Callable[[Sequence[str], Sequence[str], str, str], Encoded]


def local_encoder(model_spec: ModelSpec | str, settings: CompareSettings) -> Encoder:
    """Encode with a SentenceTransformer (loaded once, at its own max length unless capped)."""
    from embedtune.models.encoding import encode
    from embedtune.models.loading import load_embedder

    model = load_embedder(model_spec, settings.max_seq_length, trust_remote_code=settings.trust_remote_code,
                          dtype=settings.dtype)

    def run(queries: Sequence[str], corpus: Sequence[str], query_prompt: str, document_prompt: str) -> Encoded:
        encode(model, list(corpus[:4]), document_prompt, settings.batch_size)  # warm-up, not timed
        started = time.perf_counter()
        query_embeddings = encode(model, queries, query_prompt, settings.batch_size)
        middle = time.perf_counter()
        corpus_embeddings = encode(model, corpus, document_prompt, settings.batch_size)
        return Encoded(query_embeddings, corpus_embeddings, middle - started, time.perf_counter() - middle,
                       model.max_seq_length)

    return run


def api_encoder(embedder: Any) -> Encoder:
    """Encode with an `embedtune.models.api` client: the cost estimate first (refused above
    `compare.api_max_cost_usd`), then queries and passages each with the query/document type its API wants."""

    def run(queries: Sequence[str], corpus: Sequence[str], query_prompt: str, document_prompt: str) -> Encoded:
        embedder.check_budget(queries, corpus)
        started = time.perf_counter()
        query_embeddings = embedder.encode(queries, query_prompt, input_type="query")
        middle = time.perf_counter()
        corpus_embeddings = embedder.encode(corpus, document_prompt, input_type="document")
        return Encoded(query_embeddings, corpus_embeddings, middle - started, time.perf_counter() - middle,
                       embedder.max_seq_length, embedder.prompt_tokens, embedder.cost_usd, embedder.requests)

    return run


# ---------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------


def mean_ci(values: np.ndarray, samples: int, seed: int) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap 95% CI over queries."""
    ci = paired_bootstrap_ci(np.zeros_like(values, dtype=float), values, samples, seed)
    return ci["gain"], ci["ci_low"], ci["ci_high"]


def score_candidate(
    encoded: Encoded,
    query_ids: Sequence[str],
    corpus_ids: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    dims: Sequence[int],
    settings: CompareSettings,
    document_of: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], dict[tuple[int, str], np.ndarray]]:
    """Rows (dim x precision) with metric means and CIs; per-query NDCG@10 for paired comparisons.
    With `document_of` (chunk id -> document id) the corpus holds chunks and each document ranks at its
    best chunk's place (MaxP, as `embedtune.evaluation.benchmark.by_best_chunk`)."""
    rows, per_query = [], {}
    depth = search_depth(len(corpus_ids), document_of)
    for dim in dims:
        for precision in settings.precisions:
            indices = search(encoded.queries, encoded.corpus, precision, depth, dim, settings.rescore_candidates)
            rankings = rankings_of(indices, query_ids, corpus_ids, document_of)
            values = per_query_metrics(rankings, {q: qrels[q] for q in query_ids})
            row: dict[str, Any] = {"dim": dim, "precision": precision}
            for metric in LEADERBOARD_METRICS:
                mean, low, high = mean_ci(values[metric], settings.bootstrap_samples, settings.seed)
                row[metric] = mean
                row[f"{metric}_ci95"] = [low, high]
            row["bytes_per_vector"] = bytes_per_vector(dim, precision)
            row["index_mb_per_1m"] = index_bytes(dim, precision) / 1e6
            rows.append(row)
            per_query[(dim, precision)] = values["ndcg@10"]
    return rows, per_query


def candidate_dims(model: ModelSpec, full_dim: int, extra_dims: Sequence[int] = ()) -> list[int]:
    dims = set(model.matryoshka_dims) | set(extra_dims)
    return [full_dim, *sorted((d for d in dims if 0 < d < full_dim), reverse=True)]


def _display_name(spec: str) -> str:
    path = Path(spec).expanduser()
    if path.is_dir():
        resolved, here = path.resolve(), Path.cwd().resolve()
        return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(resolved)
    return spec


def compare_candidates(
    specs: Sequence[str],
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    settings: CompareSettings,
    api_settings: Any = None,
    encoders: Mapping[str, Encoder] | None = None,
    extra_dims: Sequence[int] = (),
    document_of: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The leaderboard: candidates, one row per (candidate, dim, precision), the best by the rule;
    `document_of` when the corpus holds chunks of longer documents (`score_candidate`)."""
    from embedtune.models.api import ApiError, ApiSettings, make_api_embedder

    if not queries:
        raise EmbedtuneError("no queries to compare on (check the benchmark split or the test artifact)")
    if settings.rule not in RULES:
        raise EmbedtuneError(f"unknown rule '{settings.rule}'; choose from {', '.join(RULES)}")
    unknown = [p for p in settings.precisions if p not in PRECISIONS]
    if unknown:
        raise EmbedtuneError(f"unknown precision(s) {unknown}; choose from {', '.join(PRECISIONS)}")
    query_ids, corpus_ids = sorted(queries), list(corpus)
    query_texts, corpus_texts = [queries[q] for q in query_ids], [corpus[c] for c in corpus_ids]
    leaderboard: dict[str, Any] = {
        "n_queries": len(query_ids),
        **corpus_sizes(corpus_ids, document_of),
        "rule": settings.rule,
        "tolerance": settings.tolerance,
        "precisions": list(settings.precisions),
        "machine": hardware_summary(),
        "candidates": [],
        "rows": [],
        "skipped": [],
    }
    per_query: dict[tuple[str, int, str], np.ndarray] = {}
    for spec in specs:
        name = _display_name(spec)
        if encoders and spec in encoders:
            encoder, resolved = encoders[spec], resolve_spec(spec)
        elif is_api_spec(spec):
            embedder, reason = make_api_embedder(spec, api_settings or ApiSettings())
            if embedder is None:
                logger.warning("skipping %s: %s", name, reason)
                leaderboard["skipped"].append({"model": name, "reason": reason})
                continue
            encoder, resolved = api_encoder(embedder), resolve_spec(spec)
        else:
            resolved = resolve_spec(spec)
            encoder = local_encoder(resolved, settings)
        logger.info("encoding %d queries and %d passages with %s", len(query_texts), len(corpus_texts), name)
        try:
            encoded = encoder(query_texts, corpus_texts, resolved.query_prompt, resolved.document_prompt)
        except ApiError as error:  # a refused key, an outage, over budget: that candidate is skipped, said why
            reason = str(error).split(": ", 1)[-1] if str(error).startswith(f"{spec}: ") else str(error)
            logger.warning("skipping %s: %s", name, reason)
            leaderboard["skipped"].append({"model": name, "reason": reason})
            continue
        except EmbedtuneError:
            raise
        except Exception as error:  # an API outage skips that candidate, not the comparison
            if not is_api_spec(spec):
                raise
            reason = f"failed after retries ({type(error).__name__}: {str(error)[:200]})"
            logger.warning("skipping %s: %s", name, reason)
            leaderboard["skipped"].append({"model": name, "reason": reason})
            continue
        full_dim = int(encoded.corpus.shape[1])
        dims = candidate_dims(resolved, full_dim, extra_dims)
        rows, values = score_candidate(encoded, query_ids, corpus_ids, qrels, dims, settings, document_of)
        docs_per_s = len(corpus_ids) / encoded.corpus_seconds if encoded.corpus_seconds > 0 else None
        leaderboard["candidates"].append({
            "model": name,
            "spec": spec,
            "kind": resolved.kind,
            "license": resolved.license,
            "commercial_use": resolved.commercial_use,
            "dim": full_dim,
            "matryoshka_dims": dims[1:],
            "max_seq_length": encoded.max_seq_length,
            "query_prompt": resolved.query_prompt,
            "document_prompt": resolved.document_prompt,
            "encode_docs_per_s": docs_per_s,
            "encode_seconds": round(encoded.query_seconds + encoded.corpus_seconds, 2),
            "api_tokens": encoded.tokens,
            "api_cost_usd": encoded.cost_usd,
            "api_requests": encoded.requests,
        })
        for row in rows:
            leaderboard["rows"].append({"model": name, **row, "encode_docs_per_s": docs_per_s})
            per_query[(name, row["dim"], row["precision"])] = values[(row["dim"], row["precision"])]
        top = rows[0]
        logger.info("%s: NDCG@10 %.4f (dim %d, float32), %.1f docs/s", name, top["ndcg@10"], full_dim, docs_per_s or 0)
    if not leaderboard["candidates"]:
        reasons = "; ".join(f"{s['model']}: {s['reason']}" for s in leaderboard["skipped"])
        raise EmbedtuneError(f"no candidate could be evaluated: {reasons}")
    leaderboard["rows"].sort(key=lambda r: (-r["ndcg@10"], r["bytes_per_vector"]))
    top = leaderboard["rows"][0]
    for row in leaderboard["rows"]:
        gain = paired_bootstrap_ci(
            per_query[(top["model"], top["dim"], top["precision"])],
            per_query[(row["model"], row["dim"], row["precision"])],
            settings.bootstrap_samples, settings.seed,
        )
        row["ndcg@10_vs_top"] = {key: gain[key] for key in ("gain", "ci_low", "ci_high")}
    leaderboard["best"] = pick_best(leaderboard, settings)
    leaderboard["best_for_finetune"] = pick_best(leaderboard, settings, local_only=True)
    return leaderboard


# ---------------------------------------------------------------------------------------------------
# The rule
# ---------------------------------------------------------------------------------------------------


def pick_best(leaderboard: Mapping[str, Any], settings: CompareSettings, local_only: bool = False) -> dict | None:
    """The winning (model, dim, precision) by the rule, with the reason in words."""
    candidates = {c["model"]: c for c in leaderboard["candidates"]}
    eligible = [
        row for row in leaderboard["rows"]
        if (settings.allow_noncommercial or candidates[row["model"]]["commercial_use"])
        and not (local_only and candidates[row["model"]]["kind"] == "api")
    ]
    if not eligible:
        return None
    best_quality = max(row["ndcg@10"] for row in eligible)
    if settings.rule == "quality":
        full = [r for r in eligible if r["precision"] == "float32" and r["dim"] == candidates[r["model"]]["dim"]]
        pool = full or eligible
        choice = min(pool, key=lambda r: (-r["ndcg@10"], r["bytes_per_vector"]))
        reason = f"highest NDCG@10 ({choice['ndcg@10']:.4f}) at full dimension, float32"
    else:
        good = [r for r in eligible if r["ndcg@10"] >= best_quality - settings.tolerance]
        choice = min(good, key=lambda r: (r["bytes_per_vector"], -r["ndcg@10"]))
        reason = (
            f"smallest index ({choice['bytes_per_vector']} bytes/vector) with NDCG@10 {choice['ndcg@10']:.4f}, "
            f"within {settings.tolerance} of the best {best_quality:.4f}"
        )
    candidate = candidates[choice["model"]]
    return {
        "model": choice["model"],
        "spec": candidate["spec"],
        "dim": choice["dim"],
        "precision": choice["precision"],
        "ndcg@10": choice["ndcg@10"],
        "index_mb_per_1m": choice["index_mb_per_1m"],
        "query_prompt": candidate["query_prompt"],
        "document_prompt": candidate["document_prompt"],
        "reason": reason,
    }


def finetune_parameters(best: Mapping[str, Any], full_dim: int, matryoshka_dims: Sequence[int]) -> dict[str, Any]:
    """The `parameters.model` overrides that make `finetune` start from the chosen model: its prefixes,
    and Matryoshka dims = its full dim + the given ones that fit (+ the chosen truncation)."""
    dims = sorted({full_dim, best["dim"], *(d for d in matryoshka_dims if 0 < d < full_dim)}, reverse=True)
    return {
        "base_model": best["spec"],
        "query_prompt": best["query_prompt"],
        "document_prompt": best["document_prompt"],
        "matryoshka_dims": dims,
    }


def write_best_config(leaderboard: Mapping[str, Any], source_config: str | Path, target: str | Path) -> Path:
    """A copy of the run config with `parameters.model` set to the best local candidate."""
    import yaml

    best = leaderboard.get("best_for_finetune")
    if not best:
        raise EmbedtuneError("no local candidate can be fine-tuned (API and non-commercial models are not picked)")
    candidate = next(c for c in leaderboard["candidates"] if c["model"] == best["model"])
    from embedtune.config import ModelConfig

    try:  # resolves `extends:` chains where the config loader supports them
        from embedtune.config import read_run_config

        raw = read_run_config(source_config)
    except ImportError:
        raw = yaml.safe_load(Path(source_config).read_text(encoding="utf-8")) or {}
    model = raw.setdefault("parameters", {}).setdefault("model", {})
    dims = [*candidate["matryoshka_dims"], *model.get("matryoshka_dims", ModelConfig().matryoshka_dims)]
    model.update(finetune_parameters(best, candidate["dim"], dims))
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# written by `python run.py compare --use-best`: the leaderboard's best base model\n"
        + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8",
    )
    return target
