"""Does starting chunks on sentence / word boundaries change retrieval? Old vs new start rule, base model only.

The chunker once started every window exactly `overlap_tokens` before the previous window's end, often inside a
word (`##ing`); since 2026-12-02 it starts at a sentence start in the overlap, else a word start, and ends fall
back to a word boundary (`embedtune.data.chunking`). This script chunks a BEIR corpus both ways
(`_windows(..., natural_starts=False)` is the old rule), encodes every chunk with the untrained base model
(all-MiniLM-L6-v2), scores each document by its best chunk's cosine, and compares document-level NDCG@10 on
all the benchmark's human-judged queries, with a paired bootstrap 95% CI of the difference (new - old).
No training is involved, so nothing is selected on these queries and scoring all of them is fair.

    nice -n 10 python benchmarks/chunking.py \\
        --benchmark ../shared/data/cranfield-dev:dev:200:32 --benchmark ../shared/data/cranfield-dev:dev:64:16 \\
        --benchmark ../shared/data/scifact-dev:train:64:16

Each `--benchmark` is FOLDER:SPLIT:CHUNK_TOKENS:OVERLAP_TOKENS[:DOCUMENTS] (min_tokens stays 16); DOCUMENTS, when
given, keeps every judged document plus a seeded sample of the others up to that many (candidates for all
queries), to fit a CPU budget: a smaller, easier corpus, the same paired comparison. A document's text is its
BEIR title and text joined, as `embedtune.evaluation.benchmark.load_beir` reads it. Chunk texts are encoded
once per benchmark folder (the two rules share many chunks). Writes benchmarks/results/chunking-<date>.{json,md}
(or --output), after every benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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
BASE_MODEL = "all-MiniLM-L6-v2"
RULES = {"old": False, "new": True}


def chunk_corpus(corpus: dict[str, str], tokenizer: Any, config: Any, natural_starts: bool) -> dict[str, Any]:
    """Chunks of every document (contiguous per document) and how their starts read."""
    from embedtune.data.chunking import _windows

    texts: list[str] = []
    owners: list[int] = []
    inside_word = at_sentence = starts = 0
    overlaps: list[int] = []
    for index, text in enumerate(corpus.values()):
        previous_end = None
        for first, last, _ in _windows(text, tokenizer, config, natural_starts):
            texts.append(text[first:last])
            owners.append(index)
            if previous_end is not None:
                starts += 1
                inside_word += first > 0 and text[first - 1].isalnum() and text[first].isalnum()
                before = text[:first].rstrip(" \t")
                at_sentence += before.endswith("\n") or before.rstrip(")]}\"'\u201d\u2019").endswith((".", "!", "?"))
                shared = text[first:previous_end]
                overlaps.append(len(tokenizer(shared, add_special_tokens=False)["input_ids"]) if shared else 0)
            previous_end = last
    return {
        "texts": texts,
        "owners": np.array(owners),
        "stats": {
            "chunks": len(texts),
            "later_chunks": starts,
            "starting_inside_a_word": inside_word,
            "starting_after_a_sentence_or_line": at_sentence,
            "mean_overlap_tokens": round(float(np.mean(overlaps)), 1) if overlaps else 0.0,
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        },
    }


def corpus_starts(folder: str, tokenizer: Any) -> dict[str, Any]:
    """How chunk starts read on a folder of documents (no retrieval): both rules at the default chunking, and how
    many chunks carry a heading path."""
    from embedtune.config import ChunkingConfig, IngestConfig
    from embedtune.data.chunking import chunk_documents
    from embedtune.data.ingest import load_documents

    documents = load_documents(IngestConfig(corpus=folder, exclude=[])).documents
    config = ChunkingConfig()
    corpus = {document["doc_id"]: document["text"] for document in documents}
    row: dict[str, Any] = {"corpus": folder, "documents": len(documents), "chunk_tokens": config.chunk_tokens,
                           "overlap_tokens": config.overlap_tokens}
    for name, natural in RULES.items():
        row[name] = chunk_corpus(corpus, tokenizer, config, natural)["stats"]
    rows = chunk_documents(documents, tokenizer, config)
    row["new"]["with_heading_path"] = sum(bool(chunk["headings"]) for chunk in rows)
    return row


def document_rankings(query_vectors: np.ndarray, chunk_vectors: np.ndarray, owners: np.ndarray,
                      doc_ids: list[str], query_ids: list[str], depth: int) -> dict[str, list[str]]:
    """Query id -> document ids best first; a document scores its best chunk's cosine."""
    boundaries = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    present = owners[boundaries]
    rankings = {}
    for start in range(0, len(query_ids), 256):
        scores = query_vectors[start : start + 256] @ chunk_vectors.T
        best = np.maximum.reduceat(scores, boundaries, axis=1)
        top = np.argsort(-best, axis=1, kind="stable")[:, :depth]
        for row, qid in zip(top, query_ids[start : start + 256]):
            rankings[qid] = [doc_ids[present[i]] for i in row]
    return rankings


def sample_corpus(corpus: dict[str, str], qrels: dict[str, dict[str, int]], size: int, seed: int) -> dict[str, str]:
    """Every judged document and a seeded sample of the others, `size` in all (at least the judged), in corpus order."""
    import random

    judged = {doc for judgments in qrels.values() for doc in judgments}
    others = sorted(set(corpus) - judged)
    kept = judged | set(random.Random(seed).sample(others, max(0, min(len(others), size - len(judged)))))
    return {doc: text for doc, text in corpus.items() if doc in kept}


def run_benchmark(spec: str, model: Any, tokenizer: Any, cache: dict[str, np.ndarray], args: argparse.Namespace):
    from embedtune.config import ChunkingConfig
    from embedtune.evaluation.benchmark import load_beir
    from embedtune.evaluation.metrics import RANK_DEPTH, paired_bootstrap_ci, per_query_metrics
    from embedtune.models.encoding import encode

    folder, split, chunk_tokens, overlap, *documents = spec.split(":")
    started = time.perf_counter()
    queries, corpus, qrels = load_beir(folder, split)
    if documents and int(documents[0]) < len(corpus):
        corpus = sample_corpus(corpus, qrels, int(documents[0]), args.seed)
    config = ChunkingConfig(chunk_tokens=int(chunk_tokens), overlap_tokens=int(overlap))
    query_ids, doc_ids = sorted(qrels), list(corpus)
    query_vectors = encode(model, [queries[q] for q in query_ids], batch_size=args.batch_size)
    row: dict[str, Any] = {"benchmark": Path(folder).name, "split": split, "chunk_tokens": config.chunk_tokens,
                           "overlap_tokens": config.overlap_tokens, "min_tokens": config.min_tokens,
                           "queries": len(query_ids), "documents": len(doc_ids)}
    per_query = {}
    for name, natural in RULES.items():
        chunks = chunk_corpus(corpus, tokenizer, config, natural)
        missing = sorted({text for text in chunks["texts"] if text not in cache})
        if missing:
            for text, vector in zip(missing, encode(model, missing, batch_size=args.batch_size)):
                cache[text] = vector
        vectors = np.vstack([cache[text] for text in chunks["texts"]])
        rankings = document_rankings(query_vectors, vectors, chunks["owners"], doc_ids, query_ids, RANK_DEPTH)
        per_query[name] = per_query_metrics(rankings, qrels)
        row[name] = {**chunks["stats"], "encoded": len(missing),
                     **{metric: round(float(per_query[name][metric].mean()), 4)
                        for metric in ("ndcg@10", "mrr@10", "recall@10")}}
    row["difference"] = {
        metric: {key: round(value, 4) for key, value in paired_bootstrap_ci(
            per_query["old"][metric], per_query["new"][metric], args.bootstrap, args.seed).items()}
        for metric in ("ndcg@10", "recall@10")
    }
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Chunk starts: old rule vs sentence/word starts, {result['date']}", "",
        f"Command: `{result['command']}`", "",
    ]
    if result["rows"]:
        lines += [
        (f"Machine: {result['machine']}; {result['seconds']} s in all. Model: {result['model']} (base, untrained). "
        "A document scores its best chunk's cosine; NDCG@10 is document-level, with graded qrels where the "
        "benchmark has them. Differences are new - old with a paired BCa bootstrap 95% CI over queries "
        f"({result['bootstrap']} resamples, seed {result['seed']}). No model is trained or selected here, so all "
        "of each benchmark's judged queries are scored."), "",
        ("| benchmark | documents | chunk / overlap | queries | chunks old / new | later chunks starting inside a word, "
         "old / new | mean overlap tokens old / new | NDCG@10 old | NDCG@10 new | difference [95% CI] "
         "| Recall@10 difference [95% CI] |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for row in result["rows"]:
        old, new = row["old"], row["new"]

        def ci(metric: str, row: dict[str, Any] = row) -> str:
            d = row["difference"][metric]
            return f"{d['gain']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"

        lines.append(
            f"| {row['benchmark']} ({row['split']}) | {row['documents']:,} | {row['chunk_tokens']} / {row['overlap_tokens']} "
            f"| {row['queries']} "
            f"| {old['chunks']:,} / {new['chunks']:,} | {old['starting_inside_a_word']:,} of {old['later_chunks']:,} / "
            f"{new['starting_inside_a_word']:,} of {new['later_chunks']:,} | {old['mean_overlap_tokens']} / "
            f"{new['mean_overlap_tokens']} | {old['ndcg@10']:.4f} | {new['ndcg@10']:.4f} | {ci('ndcg@10')} "
            f"| {ci('recall@10')} |"
        )
    if result.get("corpora"):
        lines += ["", "How chunk starts read on folders of documents (default chunking; no retrieval):", "",
                  ("| corpus | documents | chunks old / new | later chunks starting inside a word, old / new | "
                   "starting after a sentence end or line break, old / new | mean overlap tokens old / new | "
                   "chunks with a heading path |"), "|---|---|---|---|---|---|---|"]
        for row in result["corpora"]:
            old, new = row["old"], row["new"]
            lines.append(
                f"| {row['corpus']} | {row['documents']:,} | {old['chunks']:,} / {new['chunks']:,} | "
                f"{old['starting_inside_a_word']:,} of {old['later_chunks']:,} / {new['starting_inside_a_word']:,} of "
                f"{new['later_chunks']:,} | {old['starting_after_a_sentence_or_line']:,} / "
                f"{new['starting_after_a_sentence_or_line']:,} | {old['mean_overlap_tokens']} / "
                f"{new['mean_overlap_tokens']} | {new['with_heading_path']:,} of {new['chunks']:,} |"
            )
    return "\n".join(lines) + "\n"


def save(result: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", action="append", default=[], metavar="FOLDER:SPLIT:CHUNK:OVERLAP[:DOCUMENTS]")
    parser.add_argument("--corpus", action="append", default=[], metavar="FOLDER",
                        help="Also (or only) count how chunk starts read on a folder of documents; no retrieval.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if not args.benchmark and not args.corpus:
        parser.error("give --benchmark and/or --corpus")
    import torch

    from embedtune.models.devices import hardware_summary
    from embedtune.models.loading import load_embedder, load_tokenizer

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    started = time.perf_counter()
    model = load_embedder(BASE_MODEL, 256, "cpu")
    tokenizer = load_tokenizer(BASE_MODEL)  # the one `chunk_documents` counts in
    date = dt.date.today().isoformat()
    output = args.output or ROOT / "benchmarks" / "results" / f"chunking-{date}.json"
    hardware = hardware_summary("cpu")
    result: dict[str, Any] = {
        "date": date, "command": " ".join(["python", *sys.argv]), "model": BASE_MODEL, "bootstrap": args.bootstrap,
        "seed": args.seed, "machine": f"{hardware['cpu_count']} CPUs, torch {hardware['torch']}", "rows": [],
        "corpora": [corpus_starts(folder, tokenizer) for folder in args.corpus],
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    save(result, output)
    caches: dict[str, dict[str, np.ndarray]] = {}
    for spec in args.benchmark:
        folder = spec.split(":")[0]
        row = run_benchmark(spec, model, tokenizer, caches.setdefault(folder, {}), args)
        result["rows"].append(row)
        result["seconds"] = round(time.perf_counter() - started, 1)
        save(result, output)
        print(f"{spec}: NDCG@10 old {row['old']['ndcg@10']:.4f} new {row['new']['ndcg@10']:.4f} "
              f"diff {row['difference']['ndcg@10']} ({row['seconds']} s)", flush=True)
    print(f"wrote {output} and {output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
