"""Three questions about the quality study that a grid row cannot answer (#15).

`length`: does cutting abstracts at the model's 256 tokens cost the dense model? 71% of SciFact's 5,183
abstracts are longer (median 316 tokens), and the claims are often about the findings at the end. Each model
is scored on the dev claims with whole abstracts at 256 and at 512 tokens, and by each abstract's best
200-token chunk (MaxP, the chunks the pipeline would cut). Gains are against the first model's first setting.

`coverage`: is a tuned model's gain on the claims whose relevant abstract had training queries ("train"),
validation queries ("val") or none ("unseen")? With the hybrid teacher's gain on the same claims (BM25
weight 0.4). The pair set's split is the grid's (`split_by_document`, seed 42, 10% validation).

`ceiling`: how far above the base model is the best teacher that can be built here? For each dense model
(the base, or a larger local one as `teacher.dense_model`), the hybrid with stemmed BM25 at every weight 0,
0.1, ..., 1; the weight with the best NDCG@10 on the *select* half of the human queries is reported on the
*report* half. A student distilled from a teacher rarely passes it, so this bounds what any recipe built on
these teachers can show on those queries. Abstracts are cut at 256 tokens for every model, as in the grid.

    python benchmarks/quality_diagnostics.py length --models base=all-MiniLM-L6-v2 --settings 256,512,maxp \
        --output benchmarks/results/quality-diagnostics-2026-12-03-length.json
    python benchmarks/quality_diagnostics.py coverage --model <a model saved by quality_grid --save-models> \
        --pairs benchmarks/data/scifact-llm-v2.jsonl.gz@4845 \
        --output benchmarks/results/quality-diagnostics-2026-12-03-coverage.json
    python benchmarks/quality_diagnostics.py --benchmark ../shared/data/cranfield-dev ceiling \
        --pairs benchmarks/data/cranfield-llm-v2.jsonl.gz --models base=all-MiniLM-L6-v2 \
        --models mpnet=all-mpnet-base-v2 --output benchmarks/results/quality-diagnostics-2026-12-03-ceiling-cranfield.json

Few-shot claims of the pair set are left out of every half, as in `quality_grid.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality_grid as qg  # benchmarks/ is on the path above

PAIRS = ROOT / "benchmarks" / "data" / "scifact-llm-v2.jsonl.gz"


def load(benchmark: str, pairs: Path = PAIRS):
    from embedtune.evaluation.benchmark import load_beir

    # scifact-dev keeps its dev claims as "train"; cranfield-dev has qrels/dev.tsv
    split = "dev" if (Path(benchmark) / "qrels" / "dev.tsv").is_file() else "train"
    claims, corpus, qrels = load_beir(benchmark, split=split)
    _, few_shot = qg.read_pair_set(pairs, corpus)
    return claims, corpus, qrels, few_shot


def length(args: argparse.Namespace) -> dict:
    from embedtune.models.encoding import encode
    from embedtune.models.loading import load_embedder

    claims, corpus, qrels, few_shot = load(args.benchmark)
    ids = sorted(claims)
    excluded = frozenset(i for i, q in enumerate(ids) if q in few_shot)
    chunks = qg.chunked_abstracts(corpus)
    baseline, results = None, {}
    for spec in args.models:
        name, path = spec.split("=", 1)
        model = load_embedder(path, 256, "cpu")
        queries = encode(model, [claims[q] for q in ids], batch_size=64)
        for setting in args.settings.split(","):
            if setting == "maxp":
                model.max_seq_length = 256
                scores = qg.max_over_chunks(queries @ encode(model, [c["text"] for c in chunks], batch_size=64).T, chunks)
            else:
                model.max_seq_length = int(setting)  # past the model's own 256: its 512 position embeddings
                scores = queries @ encode(model, list(corpus.values()), batch_size=32).T
            metrics = qg.ranked_metrics(scores, claims, corpus, qrels)
            baseline = baseline or metrics
            results[f"{name}@{setting}"] = summary = qg.summarise(baseline, metrics, args.seed, excluded)
            print(name, setting, {half: round(summary[half]["ndcg@10"], 4) for half in ("all", "select", "report")},
                  flush=True)
    return results


def coverage(args: argparse.Namespace) -> dict:
    from embedtune.config import SplitConfig
    from embedtune.data.split import split_by_document
    from embedtune.evaluation.metrics import paired_bootstrap_ci
    from embedtune.models.loading import load_embedder
    from embedtune.teacher.lexical import LexicalIndex

    claims, corpus, qrels, few_shot = load(args.benchmark)
    path, _, size = args.pairs.partition("@")
    pairs, _ = qg.read_pair_set(Path(path), corpus)
    pairs = pairs[: int(size)] if size else pairs
    train, validation, test = split_by_document(pairs, SplitConfig(validation_fraction=0.1, test_fraction=0.01,
                                                                   seed=args.seed))
    trained = {p["doc_id"] for p in train + test}
    validated = {p["doc_id"] for p in validation}
    ids = sorted(claims)
    base_dense = qg.dense_scores(load_embedder(qg.BASE_MODEL, 256, "cpu"), claims, corpus, 64)
    base = qg.ranked_metrics(base_dense, claims, corpus, qrels)["ndcg@10"]
    tuned = qg.per_claim_metrics(load_embedder(args.model, 256, "cpu"), claims, corpus, qrels, 64)["ndcg@10"]
    lexical = LexicalIndex(list(corpus.values()))
    bm25 = np.vstack([lexical.scores(claims[q]) for q in ids])
    teacher = qg.fused_metrics(base_dense, bm25, 0.4, claims, corpus, qrels)["ndcg@10"]
    out = {"train_documents": len(trained), "validation_documents": len(validated)}
    for half in ("all", "select", "report"):
        for group in ("train", "val", "unseen"):
            index = []
            for i, qid in enumerate(ids):
                if qid in few_shot or (half == "select" and i % 2) or (half == "report" and not i % 2):
                    continue
                relevant = set(qrels[qid])
                if group == ("train" if relevant & trained else "val" if relevant & validated else "unseen"):
                    index.append(i)
            index = np.array(index)
            gain = paired_bootstrap_ci(base[index], tuned[index], 1000, args.seed)
            out[f"{half}/{group}"] = {"n": len(index), "base": round(float(base[index].mean()), 4), "gain": gain,
                                      "teacher_gain": paired_bootstrap_ci(base[index], teacher[index], 1000,
                                                                          args.seed)["gain"]}
            print(half, group, len(index), {k: round(v, 4) for k, v in gain.items()}, flush=True)
    return out


def ceiling(args: argparse.Namespace) -> dict:
    from embedtune.config import ModelConfig
    from embedtune.models.embedding_cache import cache_for, use_cache
    from embedtune.models.loading import load_embedder
    from embedtune.teacher.lexical import LexicalIndex

    claims, corpus, qrels, few_shot = load(args.benchmark, Path(args.pairs))
    ids = sorted(claims)
    excluded = frozenset(i for i, q in enumerate(ids) if q in few_shot)
    lexical = LexicalIndex(list(corpus.values()))
    bm25 = np.vstack([lexical.scores(claims[q]) for q in ids])
    weights = [round(w / 10, 1) for w in range(11)]
    out: dict = {"weights": weights, "excluded_few_shot": len(excluded)}
    baseline = None
    with use_cache(cache_for(ModelConfig())):  # corpus vectors the grid already encoded are read back
        for spec in args.models:
            name, path = spec.split("=", 1)
            dense = qg.dense_scores(load_embedder(path, 256, "cpu"), claims, corpus, 64)
            table = {}
            for weight in weights:
                metrics = qg.fused_metrics(dense, bm25, weight, claims, corpus, qrels)
                baseline = baseline or metrics  # the first model alone (weight 0) is the base of every gain
                table[f"{weight:.1f}"] = qg.summarise(baseline, metrics, args.seed, excluded)
            best = max(table, key=lambda w: table[w]["select"]["ndcg@10"])
            out[name] = {"by_weight": table, "chosen_on_select": float(best), "report": table[best]["report"]}
            print(name, "weight", best, "report", {k: round(v, 4) for k, v in table[best]["report"]["gain"].items()},
                  flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default=str(qg.SCIFACT))
    parser.add_argument("--seed", type=int, default=42)
    commands = parser.add_subparsers(dest="command", required=True)
    by_length = commands.add_parser("length")
    by_length.add_argument("--models", action="append", required=True, metavar="NAME=DIR")
    by_length.add_argument("--settings", default="256,512,maxp")
    by_length.add_argument("--output", type=Path, required=True)
    by_coverage = commands.add_parser("coverage")
    by_coverage.add_argument("--model", required=True)
    by_coverage.add_argument("--pairs", default=f"{PAIRS}@4845")
    by_coverage.add_argument("--output", type=Path, required=True)
    by_ceiling = commands.add_parser("ceiling")
    by_ceiling.add_argument("--models", action="append", required=True, metavar="NAME=DIR",
                            help="dense models; the first alone is the base of every gain")
    by_ceiling.add_argument("--pairs", default=str(PAIRS), help="the pair set whose few-shot queries are left out")
    by_ceiling.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    if not (Path(args.benchmark) / "corpus.jsonl").is_file():
        sys.exit(f"quality_diagnostics: {args.benchmark} has no corpus.jsonl")
    run = {"length": length, "coverage": coverage, "ceiling": ceiling}[args.command]
    result = {"command": " ".join(["python", *sys.argv]), **run(args)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
