"""Pipeline overhead: what ZenML orchestration costs around the steps' own work, and a cached re-run.

    .venv/bin/python benchmarks/overhead.py --repeats 2

Workflow (in one process, on this repository's docs/ with the instant heuristic generator, so the
steps' work is training/encoding and not the LLM):
1. `end_to_end` with a fresh corpus fingerprint (nothing cached): wall time W; the sum S of the steps'
   own durations from the ZenML store; overhead = W - S (imports, artifact I/O, store writes, step start).
2. The same call again: every step cached but `promote` (never cached: it re-decides against the version now
   holding the stage, which the first run became: promotion is relaxed here so there always is one); its
   wall time is what a no-change re-run costs.
Writes benchmarks/results/overhead-<date>.json and .md (medians over --repeats).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def timed_run(config, fingerprint: str) -> tuple[float, object]:
    from zenml.client import Client

    import pipelines

    started = time.perf_counter()
    run = pipelines.end_to_end.with_options(model={"name": "embedtune-overhead"})(
        config=config, corpus_fingerprint=fingerprint
    )
    return time.perf_counter() - started, Client().get_pipeline_run(run.id)


def step_seconds(run) -> float:
    return sum((s.end_time - s.start_time).total_seconds() for s in run.steps.values() if s.end_time and s.start_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from embedtune.config import parse_parameters

    config = parse_parameters({
        "ingest": {"corpus": str(ROOT / "docs"), "exclude": ["examples/*"]},
        "generation": {"backend": "heuristic", "queries_per_chunk": 2},
        "training": {"epochs": 1},
        # Always promote, so the re-run's `promote` has an incumbent to compare with (the costly path).
        "promotion": {"min_ndcg_gain": -1.0, "require_significant": False},
    })
    fresh, cached = [], []
    for repeat in range(args.repeats):
        fingerprint = f"overhead-{uuid.uuid4().hex}"  # a new fingerprint: load_documents and all after it re-run
        wall, run = timed_run(config, fingerprint)
        work = step_seconds(run)
        fresh.append({"wall_s": round(wall, 1), "steps_s": round(work, 1), "overhead_s": round(wall - work, 1)})
        wall_cached, run_cached = timed_run(config, fingerprint)
        statuses = {str(s.status).split(".")[-1].lower() for s in run_cached.steps.values()}
        decision = run_cached.steps["promote"].outputs["promotion"]
        decision = (decision[0] if isinstance(decision, list) else decision).load()
        cached.append({"wall_s": round(wall_cached, 1), "step_statuses": sorted(statuses),
                       "incumbent": decision.get("incumbent")})
        print(f"repeat {repeat + 1}: fresh {fresh[-1]}, cached {cached[-1]}", flush=True)
    from embedtune.models.devices import hardware_summary

    med = statistics.median
    result = {
        "command": f"python benchmarks/overhead.py --repeats {args.repeats}",
        "date": dt.date.today().isoformat(),
        "machine": hardware_summary("cpu"),
        "fresh": fresh,
        "cached": cached,
        "median": {
            "fresh_wall_s": round(med(r["wall_s"] for r in fresh), 1),
            "steps_s": round(med(r["steps_s"] for r in fresh), 1),
            "overhead_s": round(med(r["overhead_s"] for r in fresh), 1),
            "overhead_share": round(med(r["overhead_s"] / r["wall_s"] for r in fresh), 3),
            "cached_wall_s": round(med(r["wall_s"] for r in cached), 1),
        },
    }
    out = ROOT / "benchmarks" / "results" / f"overhead-{result['date']}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["median"]
    out.with_suffix(".md").write_text(
        f"# Pipeline overhead, {result['date']}\n\n`{result['command']}` on {os.cpu_count()} CPUs; medians of "
        f"{args.repeats}. `end_to_end` on docs/ (heuristic generator, 1 epoch).\n\n"
        "| fresh run wall s | sum of step durations s | overhead s (share) | cached re-run s (all but promote) |\n|---|---|---|---|\n"
        f"| {m['fresh_wall_s']} | {m['steps_s']} | {m['overhead_s']} ({m['overhead_share']:.0%}) | {m['cached_wall_s']} |\n"
    )
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
