"""Cheap fingerprints of files for cache keys: path, size and modification time, never the contents.

ZenML caches a step on its parameters and does not read files; a fingerprint passed as a parameter is
what makes the cache miss when a document, a model directory or a benchmark file changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path


def stat_digest(files: Iterable[Path], digest: hashlib._Hash | None = None) -> hashlib._Hash:
    """Feed (path, size, mtime) of every readable file into `digest` (a new sha256 when None)."""
    digest = digest or hashlib.sha256()
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            digest.update(f"{path}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest


def files_fingerprint(files: Iterable[Path]) -> str:
    """16 hex characters that change when any of `files` is added, removed, resized or touched."""
    return stat_digest(files).hexdigest()[:16]


def paths_fingerprint(paths: Sequence[str]) -> str:
    """Fingerprint of every file under each of `paths` (a folder, a file, or a hub id that counts as itself)."""
    digest = hashlib.sha256()
    for name in paths:
        root = Path(name).expanduser()
        digest.update(f"{name}\x1e".encode("utf-8", "surrogateescape"))
        stat_digest(sorted(root.rglob("*")) if root.is_dir() else [root] if root.is_file() else [], digest)
    return digest.hexdigest()[:16]
