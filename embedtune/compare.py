"""Pick the right base model: every candidate on the same queries and corpus, one leaderboard.

For each candidate (a local SentenceTransformer id or folder, or an API model `provider:model`):
1. Encode the queries and the whole (sampled) corpus once, with the model's own prefixes (catalog);
   corpus docs/s is the encode throughput on this machine.
2. For every dimension (the full one and the Matryoshka truncations the model was trained for) and every
   precision (float32 / int8 / binary / binary + rescore, see embedtune.quantization): rank the corpus,
   compute per-query NDCG@10 / MRR@10 / Recall@10 and a bootstrap 95% CI of each mean over queries.
3. Index size per 1M chunks for that dimension and precision.
4. The best configuration by a rule: `quality` (highest NDCG@10, float32 at full dim) or
   `quality_per_byte` (the smallest index whose NDCG@10 is within `tolerance` of the best).
   Non-commercial models are never picked unless allowed; API models are never the base for `finetune`.
"""

from __future__ import annotations

import html
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedtune import EmbedtuneError, logger
from embedtune.catalog import CatalogEntry, entry_or_default, is_api_spec, matryoshka_dims_for
from embedtune.metrics import RANK_DEPTH, paired_bootstrap_ci, per_query_metrics
from embedtune.quantization import PRECISIONS, bytes_per_vector, index_bytes, search

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


def local_encoder(name: str, settings: CompareSettings) -> Encoder:
    """Encode with a SentenceTransformer (loaded once, at its own max length unless capped)."""
    from embedtune.models import load_embedder
    from embedtune.retrieval import encode

    model = load_embedder(name, settings.max_seq_length)

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
    def run(queries: Sequence[str], corpus: Sequence[str], query_prompt: str, document_prompt: str) -> Encoded:
        started = time.perf_counter()
        query_embeddings = embedder.encode(queries, query_prompt)
        middle = time.perf_counter()
        corpus_embeddings = embedder.encode(corpus, document_prompt)
        return Encoded(query_embeddings, corpus_embeddings, middle - started, time.perf_counter() - middle,
                       embedder.entry.max_seq_length, embedder.prompt_tokens, embedder.cost_usd, embedder.requests)

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
) -> tuple[list[dict[str, Any]], dict[tuple[int, str], np.ndarray]]:
    """Rows (dim x precision) with metric means and CIs; per-query NDCG@10 for paired comparisons."""
    rows, per_query = [], {}
    for dim in dims:
        for precision in settings.precisions:
            indices = search(encoded.queries, encoded.corpus, precision, RANK_DEPTH, dim, settings.rescore_candidates)
            rankings = {qid: [corpus_ids[i] for i in row] for qid, row in zip(query_ids, indices)}
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


def candidate_dims(entry: CatalogEntry, spec: str, full_dim: int, extra_dims: Sequence[int] = ()) -> list[int]:
    dims = set(entry.matryoshka_dims or matryoshka_dims_for(spec)) | set(extra_dims)
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
) -> dict[str, Any]:
    """The leaderboard: candidates, one row per (candidate, dim, precision), the best by the rule."""
    from embedtune.api_embedders import ApiSettings, api_entry, make_api_embedder

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
        "n_corpus": len(corpus_ids),
        "rule": settings.rule,
        "tolerance": settings.tolerance,
        "precisions": list(settings.precisions),
        "machine": machine_description(),
        "candidates": [],
        "rows": [],
        "skipped": [],
    }
    per_query: dict[tuple[str, int, str], np.ndarray] = {}
    for spec in specs:
        name = _display_name(spec)
        if encoders and spec in encoders:
            encoder, entry = encoders[spec], (api_entry(spec) if is_api_spec(spec) else entry_or_default(spec))
        elif is_api_spec(spec):
            embedder, reason = make_api_embedder(spec, api_settings or ApiSettings())
            if embedder is None:
                logger.warning("skipping %s: %s", name, reason)
                leaderboard["skipped"].append({"model": name, "reason": reason})
                continue
            encoder, entry = api_encoder(embedder), embedder.entry
        else:
            entry = entry_or_default(spec)
            encoder = local_encoder(spec, settings)
        logger.info("encoding %d queries and %d passages with %s", len(query_texts), len(corpus_texts), name)
        try:
            encoded = encoder(query_texts, corpus_texts, entry.query_prompt, entry.document_prompt)
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
        dims = candidate_dims(entry, spec, full_dim, extra_dims)
        rows, values = score_candidate(encoded, query_ids, corpus_ids, qrels, dims, settings)
        docs_per_s = len(corpus_ids) / encoded.corpus_seconds if encoded.corpus_seconds > 0 else None
        leaderboard["candidates"].append({
            "model": name,
            "spec": spec,
            "kind": entry.kind,
            "license": entry.license,
            "commercial_use": entry.commercial_use,
            "dim": full_dim,
            "matryoshka_dims": dims[1:],
            "max_seq_length": encoded.max_seq_length,
            "query_prompt": entry.query_prompt,
            "document_prompt": entry.document_prompt,
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


def machine_description() -> dict[str, Any]:
    import platform

    description: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        description["torch_threads"] = torch.get_num_threads()
        description["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return description


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


# ---------------------------------------------------------------------------------------------------
# Renderings
# ---------------------------------------------------------------------------------------------------


def _ci(row: Mapping[str, Any], metric: str) -> str:
    low, high = row[f"{metric}_ci95"]
    return f"{row[metric]:.4f} [{low:.3f}, {high:.3f}]"


def _rate(value: float | None) -> str:
    return f"{value:.1f}" if value else "-"


def format_leaderboard(leaderboard: Mapping[str, Any], markdown: bool = False, max_rows: int | None = None) -> str:
    """Terminal (or markdown) table, best first, then the candidates and the pick."""
    header = ["#", "model", "dim", "precision", "NDCG@10 [95% CI]", "MRR@10 [95% CI]", "Recall@10 [95% CI]",
              "vs top (NDCG@10)", "MB / 1M chunks", "docs/s"]
    rows = []
    for number, row in enumerate(leaderboard["rows"][:max_rows], start=1):
        gain = row.get("ndcg@10_vs_top", {})
        versus = "top" if number == 1 else (
            f"{gain.get('gain', 0):+.4f} [{gain.get('ci_low', 0):+.3f}, {gain.get('ci_high', 0):+.3f}]"
        )
        rows.append([str(number), row["model"], str(row["dim"]), row["precision"], _ci(row, "ndcg@10"),
                     _ci(row, "mrr@10"), _ci(row, "recall@10"), versus, f"{row['index_mb_per_1m']:,.0f}",
                     _rate(row["encode_docs_per_s"])])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    else:
        widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in rows]
    lines.append("")
    lines.append(f"{leaderboard['n_queries']} queries, {leaderboard['n_corpus']} candidate passages; "
                 "CIs: bootstrap over queries; 'vs top': paired bootstrap 95% CI of the NDCG@10 difference.")
    for candidate in leaderboard["candidates"]:
        extra = ""
        if candidate["kind"] == "api":
            extra = f", API {candidate['api_tokens']} tokens ${candidate['api_cost_usd']:.4f}"
        lines.append(
            f"- {candidate['model']}: dim {candidate['dim']}, max length {candidate['max_seq_length']}, license "
            f"{candidate['license']}{'' if candidate['commercial_use'] else ' (NON-COMMERCIAL)'}, "
            f"{_rate(candidate['encode_docs_per_s'])} docs/s{extra}"
        )
    for skipped in leaderboard["skipped"]:
        lines.append(f"- skipped {skipped['model']}: {skipped['reason']}")
    for key, label in (("best", "Best"), ("best_for_finetune", "Best base model for finetune")):
        best = leaderboard.get(key)
        if best and (key == "best" or best != leaderboard.get("best")):
            lines.append(f"{label} ({leaderboard['rule']}): {best['model']} at dim {best['dim']}, {best['precision']}: "
                         f"{best['reason']}")
    return "\n".join(lines)


def to_html(leaderboard: Mapping[str, Any], title: str = "embedtune base-model leaderboard") -> str:
    """A dashboard page: the table with an NDCG@10 bar and its CI whisker per row."""
    rows_html = []
    scale = 240.0
    for number, row in enumerate(leaderboard["rows"], start=1):
        low, high = row["ndcg@10_ci95"]
        bar = (
            f"<svg width='{int(scale) + 10}' height='14'><rect x='0' y='2' width='{row['ndcg@10'] * scale:.1f}' "
            f"height='10' fill='#4f7cc2'/><line x1='{low * scale:.1f}' x2='{high * scale:.1f}' y1='7' y2='7' "
            "stroke='#222' stroke-width='2'/></svg>"
        )
        best = leaderboard.get("best") or {}
        keys = ("model", "dim", "precision")
        is_best = [row[key] for key in keys] == [best.get(key) for key in keys]
        style = " style='background:#e8f5e9;font-weight:bold'" if is_best else ""
        rows_html.append(
            f"<tr{style}><td>{number}</td><td style='text-align:left'>{html.escape(row['model'])}</td>"
            f"<td>{row['dim']}</td>"
            f"<td>{row['precision']}</td><td>{_ci(row, 'ndcg@10')}</td><td>{bar}</td><td>{_ci(row, 'mrr@10')}</td>"
            f"<td>{_ci(row, 'recall@10')}</td><td>{row['index_mb_per_1m']:,.0f}</td>"
            f"<td>{_rate(row['encode_docs_per_s'])}</td></tr>"
        )
    candidates = "".join(
        f"<li>{html.escape(c['model'])}: dim {c['dim']}, max length {c['max_seq_length']}, license "
        f"{html.escape(c['license'])}{'' if c['commercial_use'] else ' <b>(non-commercial)</b>'}, prefixes "
        f"{html.escape(repr(c['query_prompt']))} / {html.escape(repr(c['document_prompt']))}"
        + (f", {c['api_tokens']} API tokens (${c['api_cost_usd']:.4f})" if c["kind"] == "api" else "") + "</li>"
        for c in leaderboard["candidates"]
    )
    skipped = "".join(f"<li>{html.escape(s['model'])}: {html.escape(s['reason'])}</li>" for s in leaderboard["skipped"])
    best = leaderboard.get("best")
    verdict = (
        f"<p><b>Best ({html.escape(leaderboard['rule'])}):</b> {html.escape(best['model'])}, dim {best['dim']}, "
        f"{best['precision']}: {html.escape(best['reason'])}</p>" if best else ""
    )
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>"
        f"<p>{leaderboard['n_queries']} queries, {leaderboard['n_corpus']} candidate passages. Bars: NDCG@10 with "
        "its bootstrap 95% CI. Index size: vectors only, per 1M chunks.</p>"
        f"{verdict}<table><tr><th>#</th><th>model</th><th>dim</th><th>precision</th><th>NDCG@10</th><th></th>"
        "<th>MRR@10</th><th>Recall@10</th><th>MB / 1M chunks</th><th>docs/s</th></tr>"
        f"{''.join(rows_html)}</table><h3>Candidates</h3><ul>{candidates}</ul>"
        + (f"<h3>Skipped</h3><ul>{skipped}</ul>" if skipped else "")
        + "</body></html>"
    )


# ---------------------------------------------------------------------------------------------------
# Around the pipeline (used by `python run.py compare`)
# ---------------------------------------------------------------------------------------------------


def check_inputs(models: Sequence[str], benchmark: str | None, split: str) -> list[str]:
    """Fail before any work on an unknown local model or a missing benchmark; local folders made absolute."""
    from embedtune.models import resolve_model

    if benchmark:
        folder = Path(benchmark)
        if not (folder / "qrels" / f"{split}.tsv").is_file() or not (folder / "corpus.jsonl").is_file():
            raise EmbedtuneError(f"{folder} is not a BEIR folder with corpus.jsonl and qrels/{split}.tsv")
    else:
        from zenml.client import Client

        for name in ("test", "chunks"):
            try:
                Client().get_artifact_version(name)
            except KeyError:
                raise EmbedtuneError(
                    f"no '{name}' artifact in ZenML yet: run `python run.py run` (or generate + finetune) first, "
                    "or pass --benchmark DIR --split S"
                ) from None
    resolved = []
    for model in dict.fromkeys(models):
        if is_api_spec(model):
            resolved.append(model)
            continue
        resolve_model(model)
        path = Path(model).expanduser()
        resolved.append(str(path.resolve()) if path.is_dir() else model)
    return resolved


def summarise(leaderboard: dict[str, Any], output: str | None, use_best: str | None, config_path: str,
              command: str) -> None:
    """Print the table and the pick; write JSON + markdown and the run config for `finetune` if asked."""
    import datetime

    leaderboard["command"] = command
    leaderboard.setdefault("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    print(format_leaderboard(leaderboard))
    if output:
        from embedtune.report import write_json

        json_path = write_json(leaderboard, output)
        markdown_path = json_path.with_suffix(".md")
        markdown_path.write_text(to_markdown(leaderboard), encoding="utf-8")
        print(f"Leaderboard written to {json_path} and {markdown_path}")
    best = leaderboard.get("best_for_finetune")
    if not best:
        print("No local candidate to fine-tune from (API and non-commercial models are not picked).")
        return
    if use_best:
        path = write_best_config(leaderboard, config_path, use_best)
        print(f"Run config with model.base_model = {best['spec']} written to {path}")
        print(f"Next: python run.py finetune --config {path}")
    else:
        print(f"To fine-tune it: python run.py compare ... --use-best configs/best-base.yaml, then "
              f"python run.py finetune --config configs/best-base.yaml (sets model.base_model: {best['spec']})")


def to_markdown(leaderboard: Mapping[str, Any]) -> str:
    sample = leaderboard.get("sample") or {}
    sampled = (
        f" (a seeded sample of {sample.get('queries')} of {sample.get('of_queries')} queries and "
        f"{sample.get('corpus')} of {sample.get('of_corpus')} passages)" if sample else ""
    )
    machine = leaderboard.get("machine", {})
    return (
        f"# Base-model leaderboard, {leaderboard.get('date', '')}\n\n"
        f"Data: {leaderboard.get('source', '')}{sampled}.\n\n"
        f"Machine: {machine.get('cpus')} CPUs, {machine.get('device', 'cpu')}, torch threads "
        f"{machine.get('torch_threads')}.\n\n"
        f"Command: `{leaderboard.get('command', '')}`\n\n"
        + format_leaderboard(leaderboard, markdown=True) + "\n"
    )
