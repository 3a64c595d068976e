"""Quality benchmark: does tuning on synthetic queries help on human relevance labels?

Runs the real pipeline (default offline generator, default base model) on a seeded sample of SciFact
abstracts (`../shared/data/scifact-dev/corpus.jsonl`), trains only on the synthetic pairs, then scores
base and tuned with `run.py evaluate` on the 809 human-labelled SciFact claims over all 5,183 abstracts.

    .venv/bin/python benchmarks/quality.py --sample-documents 200 --max-chunks 200
    .venv/bin/python benchmarks/quality.py --sample-documents 200 --variant lr=5e-5,epochs=3

Workflow:
1. `run.py run` on the sample (generation -> filtering -> negatives -> fine-tune -> synthetic eval).
2. Optional `--variant` retrains (`run.py finetune`, same pairs) with other training arguments.
3. `run.py evaluate --model base --model tuned [...]` on scifact-dev (split train = the 809 claims).
4. Writes benchmarks/results/quality-<date>.json and .md: NDCG@10 / MRR@10 / Recall@10 base vs tuned
   with the 95% CI of the gain, generated/kept pair counts and the wall time of every stage.
Published reference: all-MiniLM-L6-v2 scores 64.5 NDCG@10 on the SciFact *test* split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact-dev"
WORK = ROOT / "outputs" / "quality"


def run_config(args: argparse.Namespace, overrides: dict | None = None) -> dict:
    return {
        "extends": str(ROOT / "configs" / "default.yaml"),
        "model": {"name": "embedtune-scifact"},
        "parameters": {
            "ingest": {"corpus": str(SCIFACT / "corpus.jsonl"), "exclude": [], "sample_documents": args.sample_documents,
                       "seed": args.seed},
            "generation": {"backend": args.backend, "queries_per_chunk": args.queries_per_chunk,
                           "query_styles": args.query_styles.split(","),
                           "max_chunks": args.max_chunks, "seed": args.seed,
                           "corpus_description": "abstracts of biomedical research papers"},
            **(overrides or {}),
        },
    }


def write_config(name: str, config: dict) -> Path:
    path = WORK / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(command: list[str]) -> float:
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return round(time.perf_counter() - started, 1)


def latest_run(pipeline_name: str) -> dict:
    """Stage times (of the step run that did the work, for cached steps) and counts of the newest run of a
    pipeline, from the ZenML store."""
    from zenml.client import Client

    client = Client()
    run = client.get_pipeline(pipeline_name).last_run
    stages = {}
    for name, step in run.steps.items():
        if str(step.status) == "cached" and step.original_step_run_id:  # the work was done by an earlier run
            step = client.get_run_step(step.original_step_run_id)
        if step.end_time and step.start_time:
            stages[name] = round((step.end_time - step.start_time).total_seconds(), 1)
    facts: dict = {"run": str(run.id), "stage_seconds": stages}
    for step, artifact in [("generate_queries", "synthetic_pairs"), ("filter_pairs", "filtered_pairs"),
                           ("mine_negatives", "training_triplets")]:
        if step in run.steps:
            output = run.steps[step].outputs[artifact]
            output = output[0] if isinstance(output, list) else output
            facts[artifact] = len(output.load())
    if "train_embedder" in run.steps:
        tuned = run.steps["train_embedder"].outputs["tuned_model"]
        facts["training"] = dict((tuned[0] if isinstance(tuned, list) else tuned).run_metadata)
    return facts


SPLIT_KEYS = {"test_fraction", "validation_fraction"}


def parse_variant(text: str) -> dict:
    """'lr=5e-5,epochs=3,test_fraction=0.05' -> {"training": {...}, "split": {...}} overrides."""
    overrides: dict = {"training": {}, "split": {}}
    for item in text.split(","):
        key, value = item.split("=")
        key = {"lr": "learning_rate"}.get(key, key)
        number = int(value) if value.isdigit() and key not in ("epochs",) else float(value)
        overrides["split" if key in SPLIT_KEYS else "training"][key] = number
    return overrides


def markdown(result: dict) -> str:
    lines = [f"# Quality on SciFact human labels, {result['date']}", "", f"Command: `{result['command']}`", "",
             (f"Sample: {result['sample_documents']} abstracts, {result['run']['synthetic_pairs']} generated pairs, "
             f"{result['run']['filtered_pairs']} kept by the filters, {result['run']['training_triplets']} triplets; "
             f"evaluation: {result['benchmark']['n_queries']} claims x {result['benchmark']['n_corpus']} abstracts."), "",
             "| model | NDCG@10 | MRR@10 | Recall@10 | NDCG@10 gain vs base [95% CI] |", "|---|---|---|---|---|"]
    benchmark = result["benchmark"]
    for name, by_dim in benchmark["models"].items():
        dim = max(by_dim, key=int)
        metrics = by_dim[dim]
        gain = benchmark["gains"].get(name, {}).get(dim, {}).get("ndcg@10")
        gain_text = f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else "-"
        label = result["labels"].get(name, name)
        lines.append(f"| {label} | {metrics['ndcg@10']:.4f} | {metrics['mrr@10']:.4f} | {metrics['recall@10']:.4f} | "
                     f"{gain_text} |")
    lines += ["", "Wall time (s): " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()),
              "", "Pipeline stages (s): " + ", ".join(f"{k} {v}" for k, v in result["run"]["stage_seconds"].items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample-documents", type=int, default=200, help="Seeded sample of the 5,183 abstracts.")
    parser.add_argument("--max-chunks", type=int, default=200)
    parser.add_argument("--queries-per-chunk", type=int, default=2)
    parser.add_argument("--query-styles", default="question,keyword",
                        help="generation.query_styles, comma-separated: question, keyword, claim.")
    parser.add_argument("--backend", default="llamacpp")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-cache", action="store_true", help="Re-run every step (fresh stage timings).")
    parser.add_argument("--tag", default="", help="Results go to quality-<date>[-<tag>].{json,md}.")
    parser.add_argument("--variant", action="append", default=[], help="Retrain with e.g. lr=5e-5,epochs=3.")
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        sys.exit(f"quality: {SCIFACT} not found (the benchmark reads ../shared/data/scifact-dev in place)")
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    python = sys.executable
    no_cache = ["--no-cache"] if args.no_cache else []
    seconds: dict = {}
    # 1. The real pipeline on the sample.
    tuned_dir = WORK / "tuned"
    seconds["pipeline"] = timed([python, "run.py", "run", "--config", str(write_config("run", run_config(args))),
                                 "--export-dir", str(tuned_dir), *no_cache])
    run_facts = latest_run("embedtune_end_to_end")
    models, labels = ["all-MiniLM-L6-v2", str(tuned_dir)], {"all-MiniLM-L6-v2": "base all-MiniLM-L6-v2"}
    labels[str(tuned_dir)] = "tuned (default training)"
    # 2. Variants: same pairs, other training arguments.
    variants = {}
    for number, text in enumerate(args.variant, start=1):
        overrides = parse_variant(text)
        variant_dir = WORK / f"tuned-variant-{number}"
        seconds[f"variant {text}"] = timed([python, "run.py", "finetune", "--config",
                                            str(write_config(f"variant-{number}", run_config(args, overrides))),
                                            "--export-dir", str(variant_dir), *no_cache])
        variants[text] = latest_run("embedtune_finetune")
        models.append(str(variant_dir))
        labels[str(variant_dir)] = f"tuned ({text})"
    # 3. Human labels: the 809 SciFact claims, every abstract a candidate.
    report_path = WORK / "scifact-report.json"
    evaluate = [python, "run.py", "evaluate", "--benchmark", str(SCIFACT), "--split", "train", "--output", str(report_path), *no_cache]
    for model in models:
        evaluate += ["--model", model]
    seconds["evaluate"] = timed(evaluate)
    benchmark = json.loads(report_path.read_text())
    # 4. Results.
    date = dt.date.today().isoformat()
    result = {
        "date": date, "command": " ".join(["python", *sys.argv]), "sample_documents": args.sample_documents,
        "arguments": vars(args), "run": run_facts, "variants": variants, "seconds": seconds, "labels": labels,
        "benchmark": {key: benchmark[key] for key in ("n_queries", "n_corpus", "models", "gains")},
    }
    out = ROOT / "benchmarks" / "results"
    stem = f"quality-{date}" + (f"-{args.tag}" if args.tag else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
