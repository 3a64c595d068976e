"""Load embedding models offline, with the prompts their `ModelSpec` decided.

Example:
    >>> from embedtune.models.loading import load_embedder
    >>> model = load_embedder("all-MiniLM-L6-v2", max_seq_length=256, device="cpu")
    >>> model.encode(["hello"]).shape
    (1, 384)
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from embedtune import EmbedtuneError, logger
from embedtune.models.paths import resolve_model
from embedtune.models.spec import ModelSpec, resolve_spec, spec_for

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.config import ModelConfig


@lru_cache(maxsize=4)
def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name_or_path), use_fast=True)


def load_embedder(
    spec: ModelSpec | str, max_seq_length: int | None = None, device: str | None = "auto"
) -> SentenceTransformer:
    """A SentenceTransformer for `spec` (a name is resolved first), its `prompts` set from the spec.

    Weights always load in fp32 (mixed precision is the Trainer's job): a checkpoint saved in fp16 would
    otherwise train with fp16 master weights under transformers 5's dtype="auto".
    """
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.models.devices import select_device

    if isinstance(spec, str):
        spec = resolve_spec(spec)
    if spec.kind == "api":
        raise EmbedtuneError(f"{spec.name} is an API model: use it in `compare`, it has no local weights")
    path = spec.path or resolve_model(spec.name)  # raises the clear "unknown model" error
    model = SentenceTransformer(
        path, device=select_device(device), local_files_only=True, model_kwargs={"dtype": torch.float32}
    )
    if max_seq_length:
        model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)
    # Decided once, in resolve_spec; saved with a model tuned from this one. Other named prompts stay.
    others = {k: v for k, v in (model.prompts or {}).items() if k not in ("query", "document")}
    model.prompts = {**others, **spec.prompts}
    logger.info("loaded embedder %s (dim %s) on %s", spec.name, embedding_dimension(model), model.device)
    return model


def load_base_model(model_config: ModelConfig) -> SentenceTransformer:
    """The run config's base model, with the config's prompts if set (else the catalog's or shipped)."""
    return load_embedder(spec_for(model_config), model_config.max_seq_length, model_config.device)


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
