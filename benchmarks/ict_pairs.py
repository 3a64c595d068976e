"""Pseudo-queries without an LLM, for the quality study (#15): a sentence cut out of a document is the
query and the rest of the document is the positive (the inverse cloze task of Lee et al. 2019, ORQA), or
the title is the query and the body the positive. Unlike the heuristic backend's extractive queries (which
stay inside their positive and cost 0.13 NDCG@10 on SciFact, results/quality-grid-2026-11-27-extractive.md),
the query's words are not all in its positive: the model has to learn the sentence's context, not copy it.

Writes a `generate_pairs.py`-style set (`.jsonl.gz` plus a `.json` with provenance) whose rows also carry
their own `positive` text; `quality_grid.py grid --pairs NAME=FILE` reads it like any other set. Both query
and positive are the corpus's own text, which is not ours to copy: write these sets outside the repository
(they rebuild in seconds), never under benchmarks/data.

    python benchmarks/ict_pairs.py --benchmark ../shared/data/scifact-dev --kind sentence \
        --documents 1000 --out /tmp/ict/scifact-ict-sentence
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\bvs\.)(?<!\bal\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bFig\.)\s+(?=[A-Z])")
MIN_WORDS, MAX_WORDS = 8, 45


def sentences(text: str) -> list[str]:
    """Sentences of an abstract, split after `.`, `!` or `?` before a capital letter (not after vs., al.,
    e.g., i.e. or Fig.)."""
    return [part.strip() for part in SENTENCE_END.split(text) if part.strip()]


def ict_pair(doc_id: str, title: str, text: str, rng: random.Random) -> dict[str, Any] | None:
    """One sentence of `text`'s second half (8-45 words: where an abstract states its findings, not its
    background or methods) as the query; the title and the other sentences as the positive. None when the
    document has no such sentence."""
    parts = sentences(text)
    eligible = [i for i, part in enumerate(parts)
                if i > 0 and 2 * i >= len(parts) and MIN_WORDS <= len(part.split()) <= MAX_WORDS]
    if not eligible:
        return None
    chosen = rng.choice(eligible)
    positive = " ".join([title, *(part for i, part in enumerate(parts) if i != chosen)]).strip()
    return {"query": parts[chosen], "positive": positive, "style": "ict-sentence"}


def title_pair(doc_id: str, title: str, text: str, rng: random.Random) -> dict[str, Any] | None:
    """The title as the query, the body as the positive (None without a title of 4+ words)."""
    if len(title.split()) < 4 or not text.strip():
        return None
    return {"query": title, "positive": text.strip(), "style": "ict-title"}


KINDS = {"sentence": ict_pair, "title": title_pair}


def build(corpus_path: Path, kinds: list[str], documents: int, seed: int) -> list[dict[str, Any]]:
    """Pairs for a seeded sample of `documents` documents (all with 0), one per kind per document."""
    rows = [json.loads(line) for line in corpus_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    rng.shuffle(rows)
    pairs = []
    for row in rows[: documents or len(rows)]:
        doc_id, title, text = str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or "")
        for kind in kinds:
            pair = KINDS[kind](doc_id, title, text, rng)
            if pair is None:
                continue
            pair_id = hashlib.sha256(f"{doc_id}\n{pair['query']}".encode()).hexdigest()[:16]
            pairs.append({"id": pair_id, **pair, "positive_id": doc_id, "doc_id": doc_id,
                          "generator": f"ict:{kind}", "prompt_version": "ict-v1", "seed": seed})
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", required=True, type=Path, help="A BEIR folder (its corpus.jsonl).")
    parser.add_argument("--kind", action="append", choices=sorted(KINDS), help="sentence (default) and/or title")
    parser.add_argument("--documents", type=int, default=0, help="A seeded sample of N documents (0: all).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True, type=Path, help="Output stem: writes STEM.jsonl.gz and STEM.json.")
    args = parser.parse_args()
    kinds = args.kind or ["sentence"]
    pairs = build(args.benchmark / "corpus.jsonl", kinds, args.documents, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out.with_name(args.out.name + ".jsonl.gz"), "wt", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair) + "\n")
    provenance = {"command": " ".join(sys.argv), "settings": {"kinds": kinds, "documents": args.documents,
                  "seed": args.seed, "few_shot_query_ids": []}, "pairs": len(pairs)}
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps({"pairs": len(pairs), "out": str(args.out)}))


if __name__ == "__main__":
    main()
