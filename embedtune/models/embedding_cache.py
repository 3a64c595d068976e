"""Encode once: embeddings kept on disk by (model fingerprint, prompt, text), shared across steps and runs.

A run encodes the same corpus with the same model several times: round-trip filtering and negative
mining with the base model, evaluation with base and tuned, `promote` with the tuned and the incumbent,
and a no-change re-run all of it again. With the cache on (`model.embedding_cache`, the default), every
(model, prompt, text) is encoded once; later requests read the stored vector.

- The model fingerprint hashes the weights themselves (and the max sequence length), so a model trained
  in place, re-exported to the same folder or loaded from an artifact is recognised by what it computes,
  never by its name or path.
- Vectors are stored raw (float32, full dimension) in one SQLite file per cache directory; callers
  normalise and truncate as before, so results are bit-for-bit those of encoding afresh.
- The file is bounded (`model.embedding_cache_gb`): beyond it, the least recently used vectors go.
- `compare` does not use it: it measures encoding speed.

Example:
    >>> cache = EmbeddingCache("~/.cache/embedtune/embeddings")
    >>> with use_cache(cache):
    ...     vectors = encode(model, texts)  # embedtune.models.encoding.encode, now cached
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedtune import logger

if TYPE_CHECKING:
    from embedtune.config import ModelConfig

CACHE_ENV = "EMBEDTUNE_EMBEDDING_CACHE"  # a folder, or "off"
_ACTIVE: contextvars.ContextVar[EmbeddingCache | None] = contextvars.ContextVar("embedtune_embedding_cache", default=None)
_LOOKUP_BATCH = 500


def default_directory() -> Path:
    return Path.home() / ".cache" / "embedtune" / "embeddings"


def model_fingerprint(model: Any) -> str:
    """A hash of what the model computes: its weights, in order, and its max sequence length.

    Large models (over 200M parameters) hash each tensor's name, shape and first and last 64 KiB, so
    the fingerprint stays well under a second."""
    import torch

    digest = hashlib.sha256(f"{getattr(model, 'max_seq_length', None)}".encode())
    state = model.state_dict()
    total = sum(tensor.numel() for tensor in state.values())
    for name, tensor in state.items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        data = tensor.detach().cpu().contiguous().view(-1)
        raw = data.view(dtype=torch.uint8).numpy() if data.numel() else np.zeros(0, np.uint8)
        if total > 200_000_000 and raw.size > 131072:
            raw = np.concatenate([raw[:65536], raw[-65536:]])
        digest.update(raw.tobytes())
    return digest.hexdigest()[:24]


def text_key(prompt: str, text: str) -> bytes:
    return hashlib.sha256(f"{prompt}\x1f{text}".encode("utf-8", "surrogatepass")).digest()[:16]


class EmbeddingCache:
    """Raw embeddings in a SQLite file, keyed by (model fingerprint, prompt + text), bounded in size.

    Args:
        directory: where `embeddings.sqlite` lives (created if missing).
        max_gb: the size beyond which the least recently used vectors are dropped.
    """

    def __init__(self, directory: str | Path, max_gb: float = 2.0):
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "embeddings.sqlite"
        self.max_bytes = int(max_gb * 2**30)
        self.hits = 0
        self.misses = 0
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (model TEXT, key BLOB, vector BLOB, used REAL, "
                "PRIMARY KEY (model, key)) WITHOUT ROWID"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=60)
        try:
            with db:  # one transaction
                yield db
        finally:
            db.close()

    def encode(
        self, model: Any, texts: Sequence[str], prompt: str, compute: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        """Raw embeddings of `texts` (input order): stored ones read, the others `compute`d and stored."""
        texts = list(texts)
        if not texts:
            return compute(texts)
        fingerprint = model_fingerprint(model)
        keys = [text_key(prompt, text) for text in texts]
        found: dict[bytes, np.ndarray] = {}
        now = time.time()
        with self._connect() as db:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _LOOKUP_BATCH):
                part = unique[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({marks})",
                    [fingerprint, *part],
                ).fetchall()
                found.update({bytes(key): np.frombuffer(vector, dtype=np.float32) for key, vector in rows})
                db.execute(
                    f"UPDATE embeddings SET used = ? WHERE model = ? AND key IN ({marks})",
                    [now, fingerprint, *part],
                )
        missing = [index for index, key in enumerate(keys) if key not in found]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = np.asarray(compute([texts[index] for index in missing]), dtype=np.float32)
            fresh = {keys[index]: vector for index, vector in zip(missing, computed)}
            found.update(fresh)
            with self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                    [(fingerprint, key, vector.tobytes(), now) for key, vector in fresh.items()],
                )
            self._bound()
        logger.debug("embedding cache: %d hits, %d encoded (model %s)", len(texts) - len(missing), len(missing),
                     fingerprint[:8])
        return np.stack([found[key] for key in keys])

    def size_bytes(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COALESCE(SUM(LENGTH(vector)) + COUNT(*) * 64, 0) FROM embeddings").fetchone()[0])

    def _bound(self) -> None:
        """Drop the least recently used vectors until the cache is under 90% of its bound."""
        with self._connect() as db:
            count, total = db.execute("SELECT COUNT(*), SUM(LENGTH(vector)) + COUNT(*) * 64 FROM embeddings").fetchone()
            if not total or total <= self.max_bytes:
                return
            drop = count - int(count * (0.9 * self.max_bytes) / max(total, 1))
            db.execute(
                "DELETE FROM embeddings WHERE (model, key) IN (SELECT model, key FROM embeddings ORDER BY used LIMIT ?)",
                [max(drop, 1)],
            )
        with contextlib.closing(sqlite3.connect(self.path, timeout=60)) as db:
            db.execute("VACUUM")
        logger.info("embedding cache over %.2f GB: dropped the %d least recently used vectors", self.max_bytes / 2**30,
                    drop)


def active_cache() -> EmbeddingCache | None:
    """The cache `embedtune.models.encoding.encode` uses now (None: encode every time)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def use_cache(cache: EmbeddingCache | None) -> Iterator[EmbeddingCache | None]:
    """Encode through `cache` inside the block (None: no cache)."""
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


def cache_for(model_config: ModelConfig) -> EmbeddingCache | None:
    """The run's cache from its config: `model.embedding_cache` (on by default), its folder
    (`model.embedding_cache_dir`, else $EMBEDTUNE_EMBEDDING_CACHE, else ~/.cache/embedtune/embeddings)
    and bound; None when turned off (the config, or EMBEDTUNE_EMBEDDING_CACHE=off)."""
    setting = os.environ.get(CACHE_ENV, "")
    if not model_config.embedding_cache or setting.lower() == "off":
        return None
    directory = model_config.embedding_cache_dir or setting or default_directory()
    try:
        return EmbeddingCache(directory, model_config.embedding_cache_gb)
    except (OSError, sqlite3.Error) as error:  # a read-only home must not fail a run: encode without it
        logger.warning("embedding cache unavailable at %s (%s); encoding without it", directory, error)
        return None
