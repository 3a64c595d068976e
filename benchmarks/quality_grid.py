"""Which data and training choices make tuning help on SciFact's human labels? A grid in one process.

`quality.py` runs the whole pipeline once. This script takes the pairs such runs produced (exported from
the ZenML store), or builds extractive pairs in-process for any number of abstracts, trains the default
base model from scratch for every (pair set x training variant) and scores each result on the 809
human-labelled SciFact claims over all 5,183 abstracts. To keep the choice honest, the variants are
ranked on one half of the claims (even positions in id order, "select") and the gains are also reported
on the other half ("report"), which took no part in the choice.

    # the pairs of a pipeline run (its training_triplets artifact), from the local ZenML store
    python benchmarks/quality_grid.py export --run <run id> --out outputs/quality/pairs-llm.jsonl
    # the grid: a GPU makes it minutes; on 2 CPU cores allow ~5 min per variant on 400 pairs
    python benchmarks/quality_grid.py grid --pairs llm=outputs/quality/pairs-llm.jsonl \\
        --extractive claim:5183:1 --variant lr=2e-5,epochs=2 --variant lr=5e-5,epochs=1,negatives=0

Extractive sets are `STYLES:DOCUMENTS:QUERIES_PER_CHUNK`, e.g. `claim:5183:1` or `question+keyword:400:2`
(the heuristic backend: no LLM). Variant keys are TrainingConfig fields (`lr` = learning_rate,
`negatives` = use_negatives, `merge` = merge_with_base) plus `validation` (the fraction of documents held out to pick the best
checkpoint; 0 trains to the end).

Workflow:
1. Load SciFact (corpus, claims, qrels), chunk the corpus as the pipeline does, read or build pair sets
   (extractive ones get negatives mined by the base model, like `mine_negatives`).
2. For each pair set x variant: split by document, train from the base model with `train_embedder`.
3. Encode claims and corpus once per model; per-claim metrics; gains vs base with paired bootstrap CIs.
4. Write benchmarks/results/quality-grid-<date>.{json,md} (or --output).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SCIFACT = ROOT.parent / "shared" / "data" / "scifact-dev"
BASE_MODEL = "all-MiniLM-L6-v2"
TEACHER_REFERENCE = "hybrid teacher"  # reference rows named by it; the plot draws them as one band
PAIR_KEYS = ("id", "doc_id", "query", "positive", "positive_id", "negative")


def export_pairs(run_id: str, out: Path) -> int:
    """Write the training_triplets of a pipeline run as JSONL (one pair per line)."""
    from zenml.client import Client

    run = Client().get_pipeline_run(run_id)
    output = run.steps["mine_negatives"].outputs["training_triplets"]
    frame = (output[0] if isinstance(output, list) else output).load()
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = frame.to_dict(orient="records")
    with out.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(clean_pair(row)) + "\n")
    return len(rows)


def clean_pair(row: dict[str, Any]) -> dict[str, Any]:
    """The pair keys only; pandas' NaN for a missing negative becomes None."""
    return {key: None if isinstance(row.get(key), float) and math.isnan(row[key]) else row.get(key) for key in PAIR_KEYS}


def read_pair_set(path: Path, corpus: dict[str, str],
                  styles: frozenset[str] = frozenset()) -> tuple[list[dict[str, Any]], list[str]]:
    """A pair set: JSONL from `export`, or a `generate_pairs.py` set (`.jsonl.gz` of queries and document
    ids, joined here with the benchmark's own corpus unless a row brings its own `positive`, as
    `ict_pairs.py` sets do; its few-shot query ids come from the `.json` beside).
    `styles` keeps only a set's queries of those styles (the mixture ablation: claims alone vs all three)."""
    import gzip

    if path.name.endswith(".jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        rows = [row for row in rows if not styles or row.get("style") in styles]
        provenance = path.with_name(path.name[: -len(".jsonl.gz")] + ".json")
        few_shot = json.loads(provenance.read_text())["settings"].get("few_shot_query_ids", []) \
            if provenance.is_file() else []
        pairs = [{**{key: row.get(key) for key in PAIR_KEYS}, "positive": row.get("positive") or corpus[row["positive_id"]]}
                 for row in rows if row.get("positive_id") in corpus]
        return pairs, few_shot
    return [clean_pair(json.loads(line)) for line in path.read_text().splitlines() if line.strip()], []


def parse_pair_spec(spec: str) -> tuple[str, str, frozenset[str], int | None, float | None]:
    """`NAME=path[#style+style][@N][~X]` -> (name, path, styles, first N pairs, max word overlap X).

        >>> parse_pair_spec("v2=set.jsonl.gz#claim@300~0.8")
        ('v2', 'set.jsonl.gz', frozenset({'claim'}), 300, 0.8)
    """
    name, path = spec.split("=", 1)
    path, _, overlap = path.partition("~")  # of those pairs, the queries with at most X of their words in the abstract
    path, _, size = path.partition("@")  # its first N pairs (a scaling point)
    path, _, styles = path.partition("#")  # only queries of those styles
    return (name, path, frozenset(filter(None, styles.split("+"))), int(size) if size else None,
            float(overlap) if overlap else None)


def abstract_chunks(corpus: dict[str, str]) -> list[dict[str, Any]]:
    """Whole abstracts as the passages (what generate_pairs.py sets point at, and what is scored)."""
    return [{"chunk_id": doc_id, "doc_id": doc_id, "text": text} for doc_id, text in corpus.items()]


def chunked_abstracts(corpus: dict[str, str]) -> list[dict[str, Any]]:
    """The abstracts cut as the pipeline cuts documents (`embedtune.evaluation.benchmark.by_best_chunk` with
    the `chunking` defaults: 200 tokens, 32 overlap), in corpus order, every abstract at least one chunk;
    `position` is 0 throughout so that negative mining and the teacher never take another chunk of the
    positive's own abstract (relevance is judged per abstract)."""
    from embedtune.config import ChunkingConfig
    from embedtune.evaluation.benchmark import Benchmark, by_best_chunk
    from embedtune.models.loading import load_tokenizer

    chunked = by_best_chunk(Benchmark({}, corpus, {}), load_tokenizer(BASE_MODEL), ChunkingConfig())
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for chunk_id, text in chunked.corpus.items():
        doc_id = chunked.document_of[chunk_id]
        by_doc.setdefault(doc_id, []).append({"chunk_id": chunk_id, "doc_id": doc_id, "text": text, "position": 0})
    return [chunk for doc_id in corpus for chunk in by_doc[doc_id]]


def chunk_positives(pairs: list[dict[str, Any]], chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Document-level pairs -> chunk-level: each query's positive becomes the chunk of its abstract that
    stemmed BM25 scores highest for it (the query was written from the whole abstract)."""
    from embedtune.teacher.lexical import LexicalIndex

    lexical = LexicalIndex([chunk["text"] for chunk in chunks])
    of_doc: dict[str, list[int]] = {}
    for index, chunk in enumerate(chunks):
        of_doc.setdefault(chunk["doc_id"], []).append(index)
    moved = []
    for pair in pairs:
        candidates = of_doc[pair["positive_id"]]
        best = candidates[0] if len(candidates) == 1 else \
            candidates[int(np.argmax(lexical.scores(pair["query"])[candidates]))]
        moved.append({**pair, "positive_id": chunks[best]["chunk_id"], "positive": chunks[best]["text"]})
    return moved


def max_over_chunks(scores: np.ndarray, chunks: list[dict[str, Any]]) -> np.ndarray:
    """Query x chunk scores -> query x abstract scores, each abstract's its best chunk's (MaxP); chunks are
    in corpus order (`chunked_abstracts`)."""
    starts = [i for i, chunk in enumerate(chunks) if i == 0 or chunk["doc_id"] != chunks[i - 1]["doc_id"]]
    return np.maximum.reduceat(scores, starts, axis=1)


def scifact_chunks(corpus_path: Path) -> list[dict[str, Any]]:
    from embedtune.config import ChunkingConfig, IngestConfig
    from embedtune.data import chunking, ingest
    from embedtune.models.loading import load_tokenizer

    documents = ingest.load_documents(IngestConfig(corpus=str(corpus_path), exclude=[])).documents
    return chunking.chunk_documents(documents, load_tokenizer(BASE_MODEL), ChunkingConfig())


def extractive_pairs(spec: str, chunks: list[dict[str, Any]], model, seed: int) -> list[dict[str, Any]]:
    """Heuristic-backend pairs for a seeded sample of documents, filtered and with mined negatives."""
    import random

    from embedtune.config import FilterConfig, GenerationConfig, NegativesConfig
    from embedtune.generation import make_generator
    from embedtune.generation.filters import build_pairs, filter_pairs
    from embedtune.generation.negatives import mine_negatives

    styles, documents, per_chunk = spec.split(":")
    doc_ids = sorted({chunk["doc_id"] for chunk in chunks})
    chosen = set(random.Random(seed).sample(doc_ids, min(int(documents), len(doc_ids))))
    rows = [chunk for chunk in chunks if chunk["doc_id"] in chosen]
    generator = make_generator(GenerationConfig(backend="heuristic", query_styles=styles.split("+"), seed=seed))
    kept, _ = filter_pairs(build_pairs(generator.generate(rows, int(per_chunk)), rows), FilterConfig())
    mined, _ = mine_negatives(kept, chunks, model, NegativesConfig())
    return [{key: pair.get(key) for key in PAIR_KEYS} for pair in mined]


TEACHER_KEYS = {"teacher": "kind", "fnm": "false_negative_margin", "negs": "negatives_per_query",
                "cands": "candidates", "w": "fusion_weight", "scale": "label_scale",
                "rule": "fusion_rule", "dense": "dense_model", "listwise": "listwise_candidates",
                "keep": "keep_pairs"}
HALVES = ("select", "report")


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_variant(text: str) -> tuple[dict[str, Any], float]:
    """'lr=5e-5,epochs=1,negatives=0,validation=0' -> (TrainingConfig overrides, validation fraction).
    Teacher keys (`teacher=hybrid`, `fnm`, `negs`, `cands`, `w`, `scale`, `rule`, `dense`, `listwise`, `keep`) come back as
    `teacher.<field>`; `loss=mnrl+margin_mse` is TrainingConfig.loss. `real=select` (the select half's query texts,
    unjudged, as `teacher.real_queries`) and `synthetic=0` (no generated training pairs; they still choose the
    teacher's weight and the checkpoint) come back as `real` and `synthetic`."""
    overrides: dict[str, Any] = {}
    validation = 0.1
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if key == "validation":
            validation = float(value)
            continue
        if key == "real":
            if value not in HALVES:
                raise ValueError(f"real={value}: the half whose query texts train (one of {HALVES})")
            overrides["real"] = value
            continue
        if key in TEACHER_KEYS:
            overrides[f"teacher.{TEACHER_KEYS[key]}"] = _value(value)
            continue
        key = {"lr": "learning_rate", "negatives": "use_negatives", "batch": "batch_size",
               "merge": "merge_with_base"}.get(key, key)
        overrides[key] = bool(int(value)) if key == "use_negatives" else _value(value)
    return overrides, validation


def train_variant(pairs, chunks, text: str, device: str, seed: int,
                  queries_of_half: dict[str, list[str]] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train one variant. `queries_of_half`: the human queries' texts per half, for `real=<half>` (their
    judgements are never read here)."""
    from embedtune.config import ModelConfig, SplitConfig, TeacherConfig, TrainingConfig
    from embedtune.data.split import split_by_document
    from embedtune.models.loading import load_embedder
    from embedtune.teacher.labels import label_pairs
    from embedtune.training.trainer import train_embedder

    overrides, validation_fraction = parse_variant(text)
    teacher = TeacherConfig(**{key[len("teacher."):]: value for key, value in overrides.items()
                               if key.startswith("teacher.")})
    rounds = int(overrides.pop("rounds", 1))
    real_half = overrides.pop("real", None)
    real_queries = (queries_of_half or {}).get(real_half, []) if real_half else []
    if real_half and teacher.kind == "none":
        raise ValueError("real=<half> needs a teacher (teacher=hybrid): it picks the real queries' positives")
    synthetic_pairs = bool(int(overrides.pop("synthetic", 1)))
    overrides = {key: value for key, value in overrides.items() if not key.startswith("teacher.")}
    config = TrainingConfig(**{"epochs": 2, "batch_size": 32, "seed": seed, **overrides})
    if device.startswith("cuda"):  # same loss, one pass per batch: GradCache chunking only saves memory
        config = config.model_copy(update={"mini_batch_size": config.batch_size})
    split = SplitConfig(validation_fraction=validation_fraction, test_fraction=0.01, seed=seed)
    train, validation, test = split_by_document(pairs, split)
    train += test  # no synthetic test set here: the human claims are the test
    if not synthetic_pairs:  # synthetic=0: the generated pairs only validate (teacher weight, checkpoint)
        train = []
    pool = {chunk["chunk_id"]: chunk for chunk in chunks}
    for pair in validation:  # exported pairs' positives are chunks of the same corpus; make sure
        pool.setdefault(pair["positive_id"], {"chunk_id": pair["positive_id"], "text": pair["positive"]})
    model_config = ModelConfig(base_model=BASE_MODEL, device=device)
    model = load_embedder(BASE_MODEL, model_config.max_seq_length, device)
    synthetic = {"base": synthetic_ndcg(model, validation, list(pool.values()))}
    teacher_report: dict[str, Any] = {}
    earlier: list[dict[str, Any]] = []
    for round_ in range(rounds):
        # Round 1 mines and labels with the base model; round r > 1 (ANCE-style) with the model of round
        # r - 1, whose dense half then joins BM25 in the teacher, and trains that model further.
        rows = train
        if teacher.kind != "none":  # same rows the pipeline's label_with_teacher step gives train_embedder
            rows, teacher_report = label_pairs(train, validation, list(pool.values()), model, teacher,
                                               real_queries if round_ == 0 else ())
        result = train_embedder(model, rows, validation, list(pool.values()), model_config, config)
        model = result.model
        if round_ < rounds - 1:
            earlier.append({"train_seconds": result.metrics.get("train_seconds"), "teacher": teacher_report})
    metrics = {key: result.metrics.get(key) for key in (
        "train_pairs", "train_rows", "validation_pairs", "train_seconds", "global_steps", "best_checkpoint", "device",
        "precision")}
    synthetic["tuned"] = synthetic_ndcg(model, validation, list(pool.values()))
    if teacher_report.get("teacher_ndcg_at_10") is not None:
        synthetic["teacher"] = teacher_report["teacher_ndcg_at_10"]
    metrics["synthetic_validation_ndcg@10"] = synthetic
    metrics["validation_curve"] = [(entry["step"], entry[key]) for entry in result.metrics.get("log_history", [])
                                   for key in entry if key.endswith("ndcg@10")]
    if real_half:
        metrics["trained_on_half"] = real_half  # its gains are not a held-out measurement
    if earlier:
        metrics["earlier_rounds"] = earlier
        metrics["train_seconds"] = round(sum(r["train_seconds"] or 0 for r in earlier) + (metrics["train_seconds"] or 0), 2)
    return model, {**metrics, "teacher": teacher_report}


def synthetic_ndcg(model, validation: list[dict[str, Any]], passages: list[dict[str, Any]]) -> float | None:
    """NDCG@10 of `model` on the synthetic validation queries over all `passages` (their positive the one
    relevant passage): the teacher's `teacher_ndcg_at_10` is measured the same way, so base, student and
    teacher compare on the queries the student was trained to answer (in distribution), next to the human ones."""
    from embedtune.models.encoding import encode, model_prompts
    from embedtune.teacher.fusion import ndcg_at_10

    index_of = {passage["chunk_id"]: i for i, passage in enumerate(passages)}
    held_out = [pair for pair in validation if pair.get("positive_id") in index_of]
    if not held_out:
        return None
    query_prompt, document_prompt = model_prompts(model)
    vectors = encode(model, [passage["text"] for passage in passages], document_prompt)
    scores = encode(model, [pair["query"] for pair in held_out], query_prompt) @ vectors.T
    return round(ndcg_at_10(scores, [{index_of[pair["positive_id"]]} for pair in held_out]), 4)


def dense_scores(model, claims: dict[str, str], corpus: dict[str, str], batch_size: int,
                 chunks: list[dict[str, Any]] | None = None) -> np.ndarray:
    """Cosine scores, claims (sorted ids) x corpus (its order); with `chunks`, each abstract's best chunk's."""
    from embedtune.models.encoding import encode

    queries = encode(model, [claims[q] for q in sorted(claims)], batch_size=batch_size)
    if chunks is not None:
        return max_over_chunks(queries @ encode(model, [c["text"] for c in chunks], batch_size=batch_size).T, chunks)
    return queries @ encode(model, list(corpus.values()), batch_size=batch_size).T


def ranked_metrics(scores: np.ndarray, claims: dict[str, str], corpus: dict[str, str], qrels):
    """Per-claim metrics (arrays in sorted claim-id order) of the rankings `scores` give."""
    from embedtune.evaluation.metrics import RANK_DEPTH, per_query_metrics

    corpus_ids = list(corpus)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :RANK_DEPTH]
    return per_query_metrics({qid: [corpus_ids[i] for i in row] for qid, row in zip(sorted(claims), top)}, qrels)


def per_claim_metrics(model, claims: dict[str, str], corpus: dict[str, str], qrels, batch_size: int,
                      chunks: list[dict[str, Any]] | None = None):
    return ranked_metrics(dense_scores(model, claims, corpus, batch_size, chunks), claims, corpus, qrels)


def fused_metrics(dense: np.ndarray, bm25: np.ndarray, weight: float, claims, corpus, qrels):
    """Per-claim metrics of `dense` fused with BM25 at `weight` (0 = dense alone, 1 = stemmed BM25), the
    teacher's fusion (`embedtune.teacher.fusion.fuse`)."""
    from embedtune.teacher.fusion import fuse

    return ranked_metrics(fuse(dense, bm25, weight), claims, corpus, qrels)


def score_mixes(model, base_weights: dict[str, Any], shares, score) -> dict[str, Any]:
    """`score(model)` at each share of the tuned weights mixed with `base_weights` (WiSE-FT,
    `embedtune.training.merging`), keyed by the share; the model is left as it came, even on an error."""
    from embedtune.training.merging import interpolate, snapshot

    tuned, scored = snapshot(model), {}
    try:
        for share in shares:
            interpolate(model, base_weights, share)
            scored[f"{share:g}"] = score(model)
            model.load_state_dict(tuned, strict=False)  # each share mixes the tuned weights, not the last mix
    finally:
        model.load_state_dict(tuned, strict=False)
    return scored


def model_folder_name(pairs: str, variant: str) -> str:
    """'llm-v2', 'teacher=hybrid,loss=mnrl+margin_mse' -> 'llm-v2__teacher-hybrid_loss-mnrl-margin_mse'."""
    import re

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", variant.replace(",", "_").replace("=", "-").replace("+", "-"))
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', pairs)}__{slug or 'default'}"


def summarise(base: dict[str, np.ndarray], tuned: dict[str, np.ndarray], seed: int,
              excluded: frozenset[int] = frozenset()) -> dict[str, Any]:
    """Means and gains on all claims and on each half; `excluded` positions (few-shot examples) are left
    out of every half without shifting the halves (they are fixed by position among all judged claims)."""
    from embedtune.evaluation.metrics import paired_bootstrap_ci

    n = len(base["ndcg@10"])
    keep = np.array([i for i in range(n) if i not in excluded])
    halves = {"all": keep, "select": keep[keep % 2 == 0], "report": keep[keep % 2 == 1]}
    summary: dict[str, Any] = {}
    for half, index in halves.items():
        summary[half] = {metric: float(tuned[metric][index].mean()) for metric in ("ndcg@10", "mrr@10", "recall@10")}
        summary[half]["gain"] = paired_bootstrap_ci(base["ndcg@10"][index], tuned["ndcg@10"][index], 1000, seed)
    return summary


def _ci(gain: dict[str, float]) -> str:
    return f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]"


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# {result.get('benchmark', 'scifact-dev')} training-choice grid, {result['date']}", "", f"Command: `{result['command']}`", "",
             (f"Machine: {result['machine']}. Queries: {result['n_claims']} (select = even positions, report = odd); "
             f"corpus: {result['n_corpus']} abstracts"
             f"{' (dense models score each by its best of ' + str(result['chunks']) + ' chunks)' if result.get('chunks') else ''}"
             f". Base NDCG@10: all {result['base']['all']['ndcg@10']:.4f}, "
             f"select {result['base']['select']['ndcg@10']:.4f}, report {result['base']['report']['ndcg@10']:.4f}."), "",
             "| pairs | variant | train pairs | NDCG@10 all | gain all [95% CI] | gain select | gain report [95% CI] | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        s = row["scores"]

        def ci(gain):
            return f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]"

        trained_on = row["training"].get("trained_on_half")
        mark = {"all": " (half trained on)" if trained_on else "",
                **{half: " (trained on its queries)" if trained_on == half else "" for half in HALVES}}
        lines.append(f"| {row['pairs']} | {row['variant'] or 'default'} | {row['training']['train_pairs']} | "
                     f"{s['all']['ndcg@10']:.4f} | {ci(s['all']['gain'])}{mark['all']} | "
                     f"{s['select']['gain']['gain']:+.4f}{mark['select']} | "
                     f"{ci(s['report']['gain'])}{mark['report']} | {row['training']['train_seconds']} |")
    if result.get("references"):
        lines += ["", "Reference retrievers on the same claims (not trained; gains vs the base model):", "",
                  "| retriever | NDCG@10 all | NDCG@10 report | gain report [95% CI] |", "|---|---|---|---|"]
        for name, ref in result["references"].items():
            gain = ref["report"]["gain"]
            lines.append(f"| {name} | {ref['all']['ndcg@10']:.4f} | {ref['report']['ndcg@10']:.4f} | "
                         f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}] |")
    fused = [row for row in result["rows"] if row.get("fused")]
    if fused:
        lines += ["", ("Each model fused with stemmed BM25 (the teacher's fusion at the given BM25 weight), against the "
                  "base model alone and against the base model fused the same way:"), "",
                  ("| pairs | variant | BM25 weight | NDCG@10 all | gain vs base, report [95% CI] | "
                  "gain vs base + BM25, select | gain vs base + BM25, report [95% CI] |"), "|---|---|---|---|---|---|---|"]
        for row in fused:
            f = row["fused"]
            lines.append(f"| {row['pairs']} | {row['variant'] or 'default'} | {f['weight']:.1f} | "
                         f"{f['vs_base']['all']['ndcg@10']:.4f} | {_ci(f['vs_base']['report']['gain'])} | "
                         f"{f['vs_base_hybrid']['select']['gain']['gain']:+.4f} | "
                         f"{_ci(f['vs_base_hybrid']['report']['gain'])} |")
    synthetic = [row for row in result["rows"] if row["training"].get("synthetic_validation_ndcg@10")]
    if synthetic:
        lines += ["", ("On the synthetic validation queries (held-out generated queries, their source passage the one "
                  "relevant one, over all passages): what the student learned where it was trained, next to its teacher:"),
                  "", "| pairs | variant | base | tuned | teacher |", "|---|---|---|---|---|"]
        for row in synthetic:
            v = row["training"]["synthetic_validation_ndcg@10"]
            lines.append(f"| {row['pairs']} | {row['variant'] or 'default'} | {v.get('base')} | {v.get('tuned')} | "
                         f"{v.get('teacher', '-')} |")
    mixed = [row for row in result["rows"] if row.get("interpolated")]
    if mixed:
        lines += ["", ("Each model's weights mixed with the base model's (WiSE-FT: share x tuned + (1 - share) x base), "
                  "gains vs the base model:"), "",
                  "| pairs | variant | share of tuned | NDCG@10 all | gain all [95% CI] | gain select | gain report [95% CI] |",
                  "|---|---|---|---|---|---|---|"]
        for row in mixed:
            for share, m in row["interpolated"].items():
                lines.append(f"| {row['pairs']} | {row['variant'] or 'default'} | {share} | {m['all']['ndcg@10']:.4f} | "
                             f"{_ci(m['all']['gain'])} | {m['select']['gain']['gain']:+.4f} | {_ci(m['report']['gain'])} |")
    best = max((row for row in result["rows"] if not row["training"].get("trained_on_half")),
               key=lambda row: row["scores"]["select"]["gain"]["gain"], default=None)
    if best:
        lines += ["", (f"Best on the select half: {best['pairs']} / {best['variant'] or 'default'}; on the report half "
                  f"its gain is {best['scores']['report']['gain']['gain']:+.4f} "
                  f"[{best['scores']['report']['gain']['ci_low']:+.4f}, {best['scores']['report']['gain']['ci_high']:+.4f}].")]
    return "\n".join(lines) + "\n"


def machine(hardware: dict[str, Any]) -> str:
    if "gpu" in hardware:
        return f"{hardware['gpu']} (torch {hardware['torch']}, CUDA {hardware['cuda']})"
    return f"{hardware['cpu_count']} CPUs, torch {hardware['torch']} ({hardware['platform']})"


def save(result: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(result))


def run_grid(args: argparse.Namespace, output: Path) -> dict[str, Any]:
    """Results are saved after every trained model, so a grid cut short keeps what it finished."""
    from embedtune.evaluation.benchmark import load_beir
    from embedtune.models.devices import hardware_summary, release_memory, select_device
    from embedtune.models.loading import load_embedder

    started = time.perf_counter()
    device = select_device(args.device)
    # 1. Data.
    split = args.split or ("dev" if (Path(args.scifact) / "qrels" / "dev.tsv").is_file() else "train")
    claims, corpus, qrels = load_beir(args.scifact, split=split)
    chunks = scifact_chunks(Path(args.scifact) / "corpus.jsonl")
    base = load_embedder(BASE_MODEL, 256, device)
    # --passages chunks: abstracts cut as the pipeline cuts documents; pairs, negatives and training on
    # chunks, and every dense model scores an abstract by its best chunk (MaxP).
    maxp = chunked_abstracts(corpus) if args.passages == "chunks" else None
    pair_sets: dict[str, list[dict[str, Any]]] = {}
    few_shot: set[str] = set()
    passages: dict[str, list[dict[str, Any]]] = {}
    for spec in args.pairs:
        name, path, styles, size, overlap = parse_pair_spec(spec)
        pair_sets[name], examples = read_pair_set(Path(path), corpus, styles)
        few_shot |= set(examples)
        if path.endswith(".jsonl.gz"):  # document-level pairs: abstracts are the passages; negatives mined here
            from embedtune.config import NegativesConfig
            from embedtune.generation.negatives import mine_negatives

            passages[name] = maxp if maxp is not None else abstract_chunks(corpus)
            if maxp is not None:
                pair_sets[name] = chunk_positives(pair_sets[name], maxp)
            pair_sets[name], _ = mine_negatives(pair_sets[name], passages[name], base, NegativesConfig())
            if args.max_pairs or size:
                pair_sets[name] = pair_sets[name][: size or args.max_pairs]
            if overlap:
                from embedtune.config import FilterConfig
                from embedtune.generation.filters import filter_pairs

                cut = len(pair_sets[name])
                pair_sets[name], _ = filter_pairs(pair_sets[name], FilterConfig(max_word_overlap=overlap))
                print(json.dumps({"pairs": name, "max_word_overlap": overlap, "kept": len(pair_sets[name]),
                                  "of": cut}), flush=True)
    for spec in args.extractive:
        pair_sets[f"extractive {spec}"] = extractive_pairs(spec, chunks, base, args.seed)
    base_dense = dense_scores(base, claims, corpus, args.batch_size, maxp)
    base_metrics = ranked_metrics(base_dense, claims, corpus, qrels)
    excluded = frozenset(position for position, qid in enumerate(sorted(claims)) if qid in few_shot)
    queries_of_half = {half: [claims[qid] for position, qid in enumerate(sorted(claims))  # texts only
                              if position % 2 == parity and position not in excluded]
                       for half, parity in zip(HALVES, (0, 1))}
    from embedtune.teacher.lexical import LexicalIndex

    lexical = LexicalIndex(list(corpus.values()))
    bm25 = np.vstack([lexical.scores(claims[q]) for q in sorted(claims)])
    references: dict[str, Any] = {}

    def add_reference(name: str, weight: float, dense_model: str | None = None) -> None:
        """A hybrid on the same claims: the base model's (or the teacher's `dense_model`) with BM25."""
        if name not in references:
            dense = base_dense if dense_model is None else dense_scores(  # loaded as the teacher loads it
                load_embedder(dense_model, device=device), claims, corpus, args.batch_size, maxp)
            metrics = fused_metrics(dense, bm25, weight, claims, corpus, qrels)
            references[name] = summarise(base_metrics, metrics, args.seed, excluded)
            print(json.dumps({"reference": name, "ndcg_all": round(references[name]["all"]["ndcg@10"], 4)}), flush=True)

    def score(model, training: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The model's gains over the base model and, with --fuse, the same fused with BM25 (at --fuse's
        weight, else the row's teacher weight) against the base model fused the same way."""
        dense = dense_scores(model, claims, corpus, args.batch_size, maxp)
        scores = summarise(base_metrics, ranked_metrics(dense, claims, corpus, qrels), args.seed, excluded)
        weight = args.fuse if args.fuse is not None else training.get("teacher", {}).get("fusion_weight")
        if not args.fuse_bm25 or weight is None:
            return scores, None
        tuned = fused_metrics(dense, bm25, weight, claims, corpus, qrels)
        hybrid = fused_metrics(base_dense, bm25, weight, claims, corpus, qrels)
        return scores, {"weight": weight, "vs_base": summarise(base_metrics, tuned, args.seed, excluded),
                        "vs_base_hybrid": summarise(hybrid, tuned, args.seed, excluded)}

    base_weights: dict[str, Any] = {}

    def mixes(model) -> dict[str, Any]:
        """--interpolate: the model's weights mixed with the base's at each share (WiSE-FT), each scored."""
        from embedtune.training.merging import snapshot

        base_weights.setdefault("weights", snapshot(base))  # the base's, copied once per grid

        def scored(mixed) -> dict[str, Any]:
            summary = summarise(base_metrics, per_claim_metrics(mixed, claims, corpus, qrels, args.batch_size, maxp),
                                args.seed, excluded)
            print(json.dumps({"ndcg_all": round(summary["all"]["ndcg@10"], 4)}), flush=True)
            return summary

        return score_mixes(model, base_weights["weights"], args.interpolate, scored)

    add_reference("stemmed BM25", 1.0)
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
        "benchmark": Path(args.scifact).name, "machine": machine(hardware_summary(device)), "n_claims": len(claims),
        "n_corpus": len(corpus), "base": summarise(base_metrics, base_metrics, args.seed, excluded),
        "few_shot_claims_excluded": sorted(few_shot), "passages": args.passages,
        **({"chunks": len(maxp)} if maxp is not None else {}),
        "pair_sets": {name: len(rows) for name, rows in pair_sets.items()}, "rows": [], "references": references,
    }
    # 2-3. Train and score every combination.
    for spec in args.models:  # models trained elsewhere (e.g. on another corpus): scored only
        name, folder = spec.split("=", 1)
        model = load_embedder(folder, 256, device)
        training = {"train_pairs": "-", "train_seconds": "-", "loaded_from": folder}
        scores, fused = score(model, training)
        mixed = mixes(model) if args.interpolate else None
        del model
        result["rows"].append({"pairs": name, "variant": "scored only", "scores": scores, "training": training,
                               **({"fused": fused} if fused else {}), **({"interpolated": mixed} if mixed else {})})
        save(result, output)
    for name, pairs in pair_sets.items():
        for variant in args.variant or [""]:
            model, training = train_variant(pairs, passages.get(name, chunks), variant, device, args.seed,
                                            queries_of_half)
            scores, fused = score(model, training)
            mixed = mixes(model) if args.interpolate else None
            if args.save_models:  # a plain sentence-transformers directory per trained model
                folder = args.save_models / model_folder_name(name, variant)
                model.save(str(folder))
                training["saved_to"] = str(folder)
            del model
            release_memory(device)
            if training["teacher"].get("fusion_weight") is not None:  # the teacher itself, on the same claims
                weight = training["teacher"]["fusion_weight"]
                dense_model = parse_variant(variant)[0].get("teacher.dense_model")
                add_reference(f"{TEACHER_REFERENCE} ({dense_model + ', ' if dense_model else ''}BM25 weight "
                              f"{weight:.1f})", weight, dense_model)
            row = {"pairs": name, "variant": variant, "training": training, "scores": scores,
                   **({"fused": fused} if fused else {}), **({"interpolated": mixed} if mixed else {})}
            result["rows"].append(row)
            result["seconds"] = round(time.perf_counter() - started, 1)
            save(result, output)
            print(json.dumps({"pairs": name, "variant": variant, "train_pairs": training["train_pairs"],
                              "ndcg_all": round(scores["all"]["ndcg@10"], 4),
                              "gain_all": {k: round(v, 4) for k, v in scores["all"]["gain"].items()}}), flush=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def plot(results: list[Path], out: Path) -> None:
    """Report-half NDCG@10 gain (95% CI) against training pairs, one line per variant, from grid results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[int, dict[str, float]]]] = {}
    references: dict[str, dict[str, float]] = {}
    for path in results:
        result = json.loads(path.read_text())
        for row in (row for row in result["rows"] if isinstance(row["training"]["train_pairs"], int)):
            lines.setdefault(row["variant"] or "default", []).append(
                (row["training"]["train_pairs"], row["scores"]["report"]["gain"]))
        for name, ref in result.get("references", {}).items():
            references[name] = ref["report"]["gain"]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for variant, points in sorted(lines.items()):
        points.sort(key=lambda point: point[0])
        xs = [x for x, _ in points]
        axis.errorbar(xs, [g["gain"] for _, g in points], marker="o", capsize=3, label=variant,
                      yerr=[[g["gain"] - g["ci_low"] for _, g in points], [g["ci_high"] - g["gain"] for _, g in points]])
    teachers = [gain["gain"] for name, gain in references.items() if name.startswith(TEACHER_REFERENCE)]
    if teachers:  # each training run chose its own fusion weight: their range, one band
        axis.axhspan(min(teachers), max(teachers), color="grey", alpha=0.2)
        axis.text(0.01, max(teachers), f"hybrid teachers (range over {len(teachers)} fusion weights)", fontsize=7,
                  va="bottom", transform=axis.get_yaxis_transform())
    for name, gain in references.items():
        if not name.startswith(TEACHER_REFERENCE):
            axis.axhline(gain["gain"], linestyle="--", linewidth=1, color="grey")
            axis.text(0.01, gain["gain"], name, fontsize=7, va="bottom", transform=axis.get_yaxis_transform())
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xlabel("training pairs (synthetic queries)")
    axis.set_ylabel("NDCG@10 gain over the base model\n(SciFact dev claims, report half, 95% CI)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="Write a pipeline run's training_triplets as JSONL.")
    export.add_argument("--run", required=True, help="Pipeline run id (a run of a pipeline with mine_negatives).")
    export.add_argument("--out", required=True, type=Path)
    grid = commands.add_parser("grid", help="Train and score every pair set x variant.")
    grid.add_argument("--pairs", action="append", default=[],
                      help="NAME=pairs.jsonl (from `export`) or NAME=set.jsonl.gz (from generate_pairs.py); "
                      "NAME=set.jsonl.gz@N takes its first N pairs (a random sample: a scaling point); "
                      "NAME=set.jsonl.gz#claim+question@N only queries of those styles; "
                      "NAME=set.jsonl.gz@N~0.8 of those N, the queries with at most 80%% of their words in the "
                      "abstract (filtering.max_word_overlap).")
    grid.add_argument("--max-pairs", type=int, help="Use the first N pairs of each generate_pairs set (its prefix "
                      "is a random sample of the corpus).")
    grid.add_argument("--extractive", action="append", default=[], help="STYLES:DOCUMENTS:QUERIES_PER_CHUNK")
    grid.add_argument("--variant", action="append", default=[], help="e.g. lr=5e-5,epochs=1,negatives=0")
    grid.add_argument("--scifact", "--benchmark", dest="scifact", default=str(SCIFACT),
                      help="BEIR folder with human-judged queries (default: scifact-dev; also e.g. cranfield-dev).")
    grid.add_argument("--split", help="qrels split (default: dev when qrels/dev.tsv exists, else train).")
    grid.add_argument("--models", action="append", default=[], metavar="NAME=DIR",
                      help="Also score an already trained model (e.g. one saved by --save-models) with no training.")
    grid.add_argument("--fuse-bm25", action="store_true", help="Also score every model fused with stemmed BM25, "
                      "against the base model fused the same way (does tuning still help a hybrid search?).")
    grid.add_argument("--fuse", type=float, help="The BM25 weight for --fuse-bm25 (default: each row's teacher "
                      "weight, chosen on synthetic queries).")
    grid.add_argument("--interpolate", type=float, action="append", default=[], metavar="SHARE",
                      help="Also score every model with its weights mixed with the base's (WiSE-FT): SHARE x tuned + "
                      "(1 - SHARE) x base; repeatable.")
    grid.add_argument("--passages", choices=("abstracts", "chunks"), default="abstracts",
                      help="chunks: cut the abstracts as the pipeline cuts documents (200 tokens), train on the "
                      "chunk each query matches best, and score an abstract by its best chunk (MaxP); abstracts: "
                      "whole abstracts, truncated at the model's 256 tokens.")
    grid.add_argument("--device", default="auto")
    grid.add_argument("--batch-size", type=int, default=128)
    grid.add_argument("--seed", type=int, default=42)
    grid.add_argument("--output", type=Path, help="Default: benchmarks/results/quality-grid-<date>.json")
    grid.add_argument("--save-models", type=Path, help="Save every trained model under this folder (plain "
                      "sentence-transformers directories, one per pair set x variant).")
    plotting = commands.add_parser("plot", help="Gain vs training pairs (PNG) from grid result files.")
    plotting.add_argument("results", nargs="+", type=Path)
    plotting.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    if args.command == "plot":
        plot(args.results, args.out)
        print(f"wrote {args.out}")
        return
    if args.command == "export":
        print(f"wrote {export_pairs(args.run, args.out)} pairs to {args.out}")
        return
    if not (Path(args.scifact) / "corpus.jsonl").is_file():
        sys.exit(f"quality_grid: {args.scifact} has no corpus.jsonl (the grid reads ../shared/data/scifact-dev)")
    if not args.pairs and not args.extractive and not args.models:
        sys.exit("quality_grid: give at least one --pairs NAME=file.jsonl or --extractive STYLES:DOCS:PER_CHUNK")
    output = args.output or ROOT / "benchmarks" / "results" / f"quality-grid-{dt.date.today().isoformat()}.json"
    from embedtune.config import ModelConfig
    from embedtune.models.embedding_cache import cache_for, use_cache

    with use_cache(cache_for(ModelConfig())):  # the base model's corpus vectors: encoded once across grids
        result = run_grid(args, output)
    save(result, output)
    print(markdown(result))


if __name__ == "__main__":
    main()
