"""Small file helpers shared by the CLI, the reports and the benchmarks, and the one safe way to
replace a model folder.

- `write_json(data, path)`: indented JSON, parent folders created.
- `check_export_dir(path)`: the one check of an `--export-dir`, run before any pipeline work. It
  passes for a missing folder (under a folder this process can write in), an empty folder, or a
  previous model export; anything else (a file, a folder holding other files, a folder that cannot
  be written) is an `EmbedtuneError` whose message names the problem and the fix.
- `export_directory(path)`: the one way a model folder is replaced: fill the yielded hidden sibling,
  and on success it takes `path`'s place in one rename. It re-runs `check_export_dir` first, so it
  never replaces a folder that is not empty and not a previous export; the only things it ever
  deletes are that previous export (or empty folder) after the swap, and its own leftovers.
- `run_output_dir(root, run_name)` / `point_latest(root, folder)`: per-run report folders
  (`outputs/<run name>/`) and `outputs/latest` pointing at the newest, so concurrent runs never
  overwrite each other's reports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedtune import EmbedtuneError, logger

EXPORT_MARKER = ".embedtune-export"
# What `SentenceTransformer.save` writes: an export from before EXPORT_MARKER existed is recognised
# only when every top-level entry is one of these (so a folder with a user's notes never is).
_MODEL_FILES = {
    "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "config.json",
    "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json", "tokenizer.model",
    "spiece.model", "sentencepiece.bpe.model", "README.md", "generation_config.json",
}
_MODULE_FOLDER = re.compile(r"^\d+_[A-Za-z]+$")  # 1_Pooling, 2_Normalize, 2_Dense ...


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write `data` as indented JSON (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False), encoding="utf-8")
    return path


def is_model_export(folder: Path) -> bool:
    """True when `folder` holds a previous export: it carries EXPORT_MARKER, or it is a
    SentenceTransformer folder with nothing else in it (exports written before the marker)."""
    if (folder / EXPORT_MARKER).is_file():
        return True
    names = {entry.name for entry in folder.iterdir()}
    return "modules.json" in names and all(name in _MODEL_FILES or _MODULE_FOLDER.match(name) for name in names)


def _probe_writable(folder: Path, what: str, shown: str) -> None:
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".embedtune-probe-", dir=folder))
    except OSError as error:
        raise EmbedtuneError(
            f"--export-dir {shown}: cannot write in {what} {folder} ({error.strerror or error}); "
            "choose a folder you can write to"
        ) from None


def check_export_dir(path: str | Path) -> Path:
    """Validate an export folder before any work; returns it resolved (`~` expanded).

    Args:
        path: the `--export-dir` as the user gave it.

    Returns:
        The absolute path the model will be written to.

    Raises:
        EmbedtuneError: `path` is a file, lies under a file, cannot be created or written, or is a
            folder that holds anything but a previous model export.
    """
    shown = str(path)
    target = Path(path).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise EmbedtuneError(f"--export-dir {shown} is a file, not a folder; choose a folder name")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EmbedtuneError(f"--export-dir {shown}: {ancestor} is a file, so no folder can be made under it")
    _probe_writable(ancestor, "folder", shown)
    if target.is_dir():
        try:
            entries = sorted(entry.name for entry in target.iterdir())
        except OSError as error:
            raise EmbedtuneError(f"--export-dir {shown}: cannot read it ({error.strerror or error})") from None
        if entries and not is_model_export(target):
            listed = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
            raise EmbedtuneError(
                f"--export-dir {shown} already holds other files ({listed}) and is not a previous model "
                f"export, so it is left as it is; choose a new or empty folder, e.g. {Path(shown) / 'tuned-model'}"
            )
    return target.resolve()


def _remove_own_leftovers(target: Path) -> None:
    """Remove `.<name>.partial-*` / `.<name>.previous-*` siblings an earlier killed export left, only
    when they carry EXPORT_MARKER (written first, so every folder this module made has it)."""
    for pattern in (f".{target.name}.partial-*", f".{target.name}.previous-*"):
        for stale in target.parent.glob(pattern):
            if stale.is_dir() and (stale / EXPORT_MARKER).is_file():
                shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def export_directory(path: str | Path, note: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """Yield a hidden sibling folder to fill; on success it replaces `path` in one rename.

    Args:
        path: the export folder (checked again with `check_export_dir`, so a folder that filled up
            with other files while the pipeline ran is still refused).
        note: what to record in the folder's EXPORT_MARKER file (e.g. the run and the artifact).

    Yields:
        The temporary folder, `.<name>.partial-<pid>` next to `path`.

    On an exception (or a kill) `path` is untouched and the partial folder is removed (a kill leaves
    it, and the next export to the same path removes it).
    """
    target = check_export_dir(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_own_leftovers(target)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    partial.mkdir()
    (partial / EXPORT_MARKER).write_text(json.dumps(dict(note or {}), indent=2), encoding="utf-8")
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    previous = target.parent / f".{target.name}.previous-{os.getpid()}"
    if target.exists():
        (target / EXPORT_MARKER).touch()  # checked above: a previous export or an empty folder
        os.replace(target, previous)  # both renames are atomic; between them `target` is briefly absent
    os.replace(partial, target)
    if previous.exists():
        shutil.rmtree(previous, ignore_errors=True)
    logger.debug("exported to %s", target)


def run_output_dir(root: str | Path, run_name: str) -> Path:
    """`<root>/<run name>`, created; characters other than letters, digits, `.`, `_` and `-` in the
    name become `_` (a run name never escapes `root` or names `latest`)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_name).strip(".") or "run"
    folder = Path(root) / ("run-latest" if safe == "latest" else safe)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def point_latest(root: str | Path, folder: Path) -> Path:
    """Point `<root>/latest` at `folder` (a relative symlink, swapped in one rename, so a reader never
    finds it missing). Where symlinks cannot be made, `<root>/latest` is a text file naming the folder.
    Never replaces a real `latest` folder a user made: that is left as it is, with a warning."""
    root = Path(root)
    latest = root / "latest"
    if latest.is_dir() and not latest.is_symlink():
        logger.warning("%s is a folder, not embedtune's link; left as it is (the report is in %s)", latest, folder)
        return latest
    temporary = root / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    try:
        temporary.symlink_to(folder.name, target_is_directory=True)
    except OSError:
        temporary.write_text(f"{folder.name}\n", encoding="utf-8")
    os.replace(temporary, latest)
    return latest
