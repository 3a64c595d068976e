"""Whole-corpus synthetic pairs for a BEIR benchmark's corpus, generated for hours, resumable, committed.

The pair sets under `benchmarks/data/` let every training experiment re-run in minutes without the LLM:
this script is the slow part, run once (in the background, over several sessions). It uses the
pipeline's own generator (`make_generator`, the default offline llama.cpp model unless told otherwise)
and filters (`filter_pairs`); only the corpus reading is benchmark-specific (one passage per abstract).
The rows hold the queries and the positive's document id, never the corpus text (which stays in the
benchmark folder: join on `positive_id`, the positive being `title + text` as `load_beir` builds it).

    # SciFact: 3 mixed queries per abstract (claim, question, keyword) in one prompt per abstract,
    # 8 few-shot claims from the dev "select" half (dropped from scoring), 2 hours of work
    python benchmarks/generate_pairs.py --benchmark ../shared/data/scifact-dev --split train \\
        --out benchmarks/data/scifact-llm-v2 --examples select:8 --minutes 120 \\
        --corpus-description "PubMed abstracts of biomedical and clinical research"

Workflow:
1. Read the corpus; order the documents by a seeded shuffle, so any prefix of the output is a random
   sample of the corpus (what a scaling curve needs).
2. Few-shot examples (optional): the first N queries of the benchmark's "select" half (even positions
   of the judged query ids, as `quality_grid.py` splits them); their ids are recorded in the provenance
   so the scoring can leave them out. The query texts are not written into the repository.
3. Shard by shard (`--shard` documents): generate, build pairs, filter, append the kept pairs to
   `<out>.jsonl.gz` (one gzip member per shard, after the bytes `<out>.json` vouches for) and rewrite
   `<out>.json` (provenance and counts).
   Inside a shard the generator's answer journal makes a killed run lose nothing; across shards the
   provenance says where to go on. `--minutes` stops cleanly after the shard that crosses the budget.

Every pair row: id, query, style, positive_id, doc_id, generator, prompt_version, shard.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# No passage text: the corpus is not ours to copy; the positive is looked up by id in the benchmark folder.
PAIR_FIELDS = ("id", "query", "style", "positive_id", "doc_id", "generator", "prompt_version")


def read_corpus(folder: Path) -> list[dict[str, str]]:
    rows = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                rows.append({"_id": str(row["_id"]), "title": str(row.get("title") or ""), "text": str(row.get("text") or "")})
    return rows


def select_half_queries(folder: Path, split: str) -> list[tuple[str, str]]:
    """(id, text) of the judged queries at even positions in id order: the half used for choices."""
    from embedtune.evaluation.benchmark import load_beir

    queries, _, _ = load_beir(folder, split)
    ids = sorted(queries)
    return [(qid, queries[qid]) for qid in ids[0::2]]


def provenance_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")  # not with_suffix: a stem like "set-0.5b" keeps its dot


def pairs_path(out: Path) -> Path:
    return out.with_name(out.name + ".jsonl.gz")


def same_settings(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a set's recorded settings are `current` ones, so its generation may resume. `parallel` changes
    speed and draws, not the prompt (it is kept per shard); a filter added since the set was started counts
    as the same while it is at its default (off)."""
    from embedtune.config import FilterConfig

    defaults = FilterConfig().model_dump()
    now = {k: v for k, v in current.items() if k != "parallel"}
    now["filters"] = {k: v for k, v in current.get("filters", {}).items()
                      if k in recorded.get("filters", {}) or v != defaults.get(k)}
    return {k: v for k, v in recorded.items() if k != "parallel"} == now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", required=True, type=Path, help="BEIR folder (its corpus.jsonl is used).")
    parser.add_argument("--split", default="test", help="qrels split, for --examples select:N.")
    parser.add_argument("--out", required=True, type=Path, help="Output stem: <out>.jsonl.gz and <out>.json.")
    parser.add_argument("--queries-per-doc", type=int, default=3)
    parser.add_argument("--styles", default="claim,question,keyword")
    parser.add_argument("--prompt-mode", default="per_chunk", choices=["per_query", "per_chunk"])
    parser.add_argument("--examples", default="", help="select:N = N few-shot queries of the select half.")
    parser.add_argument("--corpus-description", default="scientific abstracts")
    parser.add_argument("--backend", default="llamacpp")
    parser.add_argument("--model-path", help="generation.llamacpp.model_path (default: the packaged model).")
    parser.add_argument("--model", help="generation.llamacpp.model: another packaged GGUF (qwen2.5-coder-0.5b).")
    parser.add_argument("--parallel", type=int, default=1, help="generation.llamacpp.parallel (prompts decoded together).")
    parser.add_argument("--shard", type=int, default=20, help="Documents per shard (a unit of resume).")
    parser.add_argument("--max-docs", type=int, help="Stop after this many documents in all.")
    parser.add_argument("--minutes", type=float, help="Stop after the shard that crosses this budget.")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from embedtune.config import FilterConfig, GenerationConfig
    from embedtune.generation import make_generator
    from embedtune.generation.filters import build_pairs, filter_pairs

    started = time.perf_counter()
    # 1. Corpus in a seeded order.
    corpus = read_corpus(args.benchmark)
    random.Random(args.seed).shuffle(corpus)
    limit = min(len(corpus), args.max_docs or len(corpus))

    # 2. Few-shot examples from the select half (ids recorded; texts only in a local, ignored file).
    example_ids: list[str] = []
    examples_file = None
    if args.examples:
        half, count = args.examples.split(":")
        if half != "select":
            sys.exit("--examples must be select:N (never the report half)")
        chosen = select_half_queries(args.benchmark, args.split)[: int(count)]
        example_ids = [qid for qid, _ in chosen]
        examples_file = ROOT / "outputs" / "generation" / f"{args.out.name}.examples.txt"
        examples_file.parent.mkdir(parents=True, exist_ok=True)
        examples_file.write_text("".join(f"{text}\n" for _, text in chosen), encoding="utf-8")

    config = GenerationConfig(
        backend=args.backend,
        queries_per_chunk=args.queries_per_doc,
        query_styles=args.styles.split(","),
        corpus_description=args.corpus_description,
        prompt_mode=args.prompt_mode,
        example_queries=str(examples_file) if examples_file else None,
        seed=args.seed,
        cache_dir=str(ROOT / "outputs" / "generation" / "journal"),
        llamacpp={**({"model_path": args.model_path} if args.model_path else {}),
                  **({"model": args.model} if args.model else {}), "parallel": args.parallel},
    )
    filters = FilterConfig()
    generator = make_generator(config)

    # 3. Shards, resumable.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state_path = provenance_path(args.out)
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {}
    settings = {
        "benchmark": args.benchmark.name, "queries_per_doc": args.queries_per_doc, "styles": config.query_styles,
        "prompt_mode": args.prompt_mode, "corpus_description": args.corpus_description, "backend": args.backend,
        "model_path": Path(args.model_path).name if args.model_path else None, "seed": args.seed,
        "shard": args.shard, "few_shot_query_ids": example_ids, "filters": filters.model_dump(),
    }
    if args.model:  # only when set, so the provenance of sets made before these flags still matches
        settings["model"] = args.model
    if args.parallel > 1:
        settings["parallel"] = args.parallel

    if state and not same_settings(state.get("settings", {}), settings):
        sys.exit(f"{state_path} was made with other settings; use another --out or the same flags")
    state.setdefault("settings", settings)
    state.setdefault("docs_done", 0)
    state.setdefault("shards", [])
    state["commands"] = sorted(set(state.get("commands", [])) | {shlex.join(["python", *sys.argv])})
    while state["docs_done"] < limit:
        if args.minutes and (time.perf_counter() - started) / 60 >= args.minutes:
            break
        shard_docs = corpus[state["docs_done"] : min(limit, state["docs_done"] + args.shard)]
        chunks = [{"chunk_id": doc["_id"], "doc_id": doc["_id"], "title": doc["title"], "text": doc["text"]}
                  for doc in shard_docs]
        shard_started = time.perf_counter()
        generated = generator.generate(chunks, args.queries_per_doc)
        usage = generator.usage()
        pairs = build_pairs(generated, chunks)
        kept, dropped = filter_pairs(pairs, filters)
        number = len(state["shards"])
        lines = []
        for pair in kept:
            row = {key: pair.get(key) for key in PAIR_FIELDS}
            row["shard"] = number
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        # One gzip member per shard, appended after the bytes the provenance vouches for: a run killed
        # mid-write leaves a tail that the next run cuts off before appending.
        member = gzip.compress("".join(lines).encode("utf-8"), mtime=0)
        with pairs_path(args.out).open("ab") as out:
            out.truncate(state.get("bytes", 0))
            out.seek(state.get("bytes", 0))
            out.write(member)
            out.flush()
            os.fsync(out.fileno())
        state["bytes"] = state.get("bytes", 0) + len(member)
        seconds = time.perf_counter() - shard_started
        state["shards"].append({
            "shard": number, "docs": len(shard_docs), "generated": len(generated), "kept": len(kept),
            "dropped": dict(dropped), "seconds": round(seconds, 1), "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"), "resumed_answers": usage.get("resumed_answers"),
            "parallel": args.parallel,
        })
        state["docs_done"] += len(shard_docs)
        state["generator"] = usage.get("generator")
        state["prompt_version"] = usage.get("prompt_version", generator.prompt_version)
        state["totals"] = {
            "docs": state["docs_done"], "of_docs": len(corpus),
            "generated": sum(s["generated"] for s in state["shards"]),
            "kept": sum(s["kept"] for s in state["shards"]),
            "seconds": round(sum(s["seconds"] for s in state["shards"]), 1),
        }
        totals = state["totals"]
        totals["kept_pairs_per_minute"] = round(totals["kept"] / max(totals["seconds"], 1e-9) * 60, 2)
        state["updated"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        state_path.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        print(f"shard {number}: {len(kept)}/{len(generated)} kept in {seconds:.0f}s; "
              f"{totals['docs']}/{len(corpus)} docs, {totals['kept']} pairs, {totals['kept_pairs_per_minute']}/min",
              flush=True)


if __name__ == "__main__":
    main()
