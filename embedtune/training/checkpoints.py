"""Resuming interrupted training, and writing model folders so no reader ever sees half of one.

- `run_directory`: checkpoints live under `<training.checkpoint_dir>/<fingerprint>`, the fingerprint
  covering the base model, the training settings and the training data. A re-run of the same training
  resumes from its newest checkpoint; a changed config or dataset starts clean in its own folder
  instead of resuming someone else's optimizer state.
- `latest_checkpoint`: the newest *complete* checkpoint. transformers writes `trainer_state.json` last
  (after weights, optimizer, scheduler and RNG state), so a checkpoint without a readable one was cut
  off mid-write by a kill; it is removed, and the one before it is used.
- `atomic_directory`: build a folder under a temporary sibling name and rename it into place, so an
  interrupted save leaves the previous folder (or nothing), never a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedtune import logger

TRAINER_STATE = "trainer_state.json"


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (anything else by its str)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_directory(checkpoint_dir: str | Path, *parts: Any) -> Path:
    """`<checkpoint_dir>/<fingerprint of parts>`, created."""
    folder = Path(checkpoint_dir).expanduser() / fingerprint(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _step(path: Path) -> int:
    try:
        return int(path.name.rsplit("-", 1)[-1])
    except ValueError:
        return -1


def is_complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def latest_checkpoint(directory: str | Path, remove_incomplete: bool = True) -> str | None:
    """The newest complete `checkpoint-<step>` folder in `directory`, or None."""
    candidates: Sequence[Path] = sorted(
        (p for p in Path(directory).glob("checkpoint-*") if p.is_dir() and _step(p) >= 0), key=_step, reverse=True
    )
    for checkpoint in candidates:
        if is_complete(checkpoint):
            return str(checkpoint)
        logger.warning("checkpoint %s was cut off while being written (no %s); ignoring it", checkpoint, TRAINER_STATE)
        if remove_incomplete:
            shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def atomic_directory(target: str | Path):
    """`embedtune.util.io.export_directory`: the one safe replace (a previous export or an empty folder is
    replaced in one rename; a folder holding anything else is refused, never deleted)."""
    from embedtune.util.io import export_directory

    return export_directory(target)


def save_model_atomically(model: Any, target: str | Path) -> Path:
    """`model.save(target)` (a SentenceTransformer) that never leaves a half-written folder."""
    with atomic_directory(target) as folder:
        model.save(str(folder), safe_serialization=True)
    return Path(target)
