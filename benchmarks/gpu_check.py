"""GPU check: the finetune pipeline on a real corpus, on the GPU and on the CPU of the same machine.

Sized to finish in a few minutes on one GPU. Generation uses the heuristic backend (no LLM), because
this check measures training, not query quality; the pairs are the same for both devices.

    python benchmarks/gpu_check.py --corpus ../shared/data/zenml-docs/docs/book \\
        --output benchmarks/results/gpu-check.json

Workflow:
1. `generate_data` once (heuristic queries, filtering and negative mining on the default device).
2. `finetune` with model.device=cuda (precision auto: bf16 on Ampere+), then with model.device=cpu, same
   triplets, same arguments (1 epoch, batch 64): pairs/s from the training step's own metadata.
3. Print and write: pairs/s on each device and the ratio, peak GPU memory, precision, NDCG@10 base/tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_config(args: argparse.Namespace, device: str) -> dict:
    return {
        "extends": str(ROOT / "configs" / "default.yaml"),
        "enable_cache": False,
        "model": {"name": "embedtune-gpu-check"},
        "parameters": {
            "ingest": {"corpus": str(Path(args.corpus).resolve()), "exclude": []},
            "generation": {"backend": "heuristic", "queries_per_chunk": 2, "max_chunks": args.max_chunks},
            "model": {"base_model": args.model, "device": device},
            "training": {"epochs": args.epochs, "batch_size": args.batch_size, "mini_batch_size": args.mini_batch_size},
            "promotion": {"stage": "staging"},
        },
    }


def run_pipeline(name: str, args: argparse.Namespace, device: str) -> tuple[object, float]:
    import yaml
    from zenml.client import Client

    import pipelines
    from commands import support
    from embedtune.data.ingest import corpus_fingerprint

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(run_config(args, device), handle)
    config, options = support.prepare(handle.name, None, needs_corpus=name == "generate")
    pipeline = pipelines.generate_data if name == "generate" else pipelines.finetune
    parameters = {"config": config}
    if name == "generate":
        parameters["corpus_fingerprint"] = corpus_fingerprint(config.ingest)
    started = time.perf_counter()
    with support.options_file(options) as options_path:
        run = pipeline.with_options(config_path=options_path)(**parameters)
    return Client().get_pipeline_run(run.id), time.perf_counter() - started


def training_figures(run) -> dict:
    step = run.steps["train_embedder"]
    tuned = step.outputs["tuned_model"]
    tuned = tuned[0] if isinstance(tuned, list) else tuned
    metrics = dict(tuned.run_metadata)
    report = run.steps["evaluate"].outputs["evaluation_report"]
    report = (report[0] if isinstance(report, list) else report).load()
    dim = str(max(int(d) for d in report["models"]["tuned"]))
    return {
        "train_pairs": metrics.get("train_pairs"),
        "pairs_per_second": metrics.get("train_pairs_per_second"),
        "train_seconds": metrics.get("train_seconds"),
        "precision": metrics.get("precision"),
        "device": metrics.get("device"),
        "peak_gpu_memory_gb": metrics.get("peak_gpu_memory_gb"),
        "step_seconds": round((step.end_time - step.start_time).total_seconds(), 1),
        "ndcg@10_base": round(report["models"]["base"][dim]["ndcg@10"], 4),
        "ndcg@10_tuned": round(report["models"]["tuned"][dim]["ndcg@10"], 4),
        "test_queries": report["n_queries"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--max-chunks", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mini-batch-size", type=int, default=32)
    parser.add_argument("--devices", default="cuda,cpu", help="Finetune runs, in order (cpu alone: a dry run).")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import torch

    from embedtune.models.devices import hardware_summary

    devices = args.devices.split(",")
    if "cuda" in devices and not torch.cuda.is_available():
        sys.exit("gpu_check: PyTorch sees no CUDA GPU on this machine; nothing to check")
    result: dict = {"command": " ".join(["python", *sys.argv]), "hardware": hardware_summary(devices[0])}
    # 1. Data, once.
    generated, seconds = run_pipeline("generate", args, devices[0])
    triplets = generated.steps["mine_negatives"].outputs["training_triplets"]
    result["generate"] = {"seconds": round(seconds, 1), "triplets": len((triplets[0] if isinstance(triplets, list)
                                                                         else triplets).load())}
    # 2. The same finetune on the GPU, then on the CPU.
    for device in devices:
        run, seconds = run_pipeline("finetune", args, device)
        result[device] = {"pipeline_seconds": round(seconds, 1), **training_figures(run)}
        print(f"[{device}] {json.dumps(result[device])}", flush=True)
    if "cpu" in result and "cuda" in result and result["cpu"]["pairs_per_second"]:
        result["gpu_over_cpu_pairs_per_second"] = round(
            result["cuda"]["pairs_per_second"] / result["cpu"]["pairs_per_second"], 1
        )
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
