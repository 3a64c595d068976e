"""Remote corpora and model folders: fsspec URIs (`s3://`, `gs://`, `az://`, `hf://`, ...) read inside a step.

- `is_remote(text)` tells a URI (`scheme://...`) from a local path and from `hf:NAME` (a Hugging Face dataset
  name, read by `datasets`); `extra_for(uri)` names the pyproject extra whose packages read it.
- `filesystem(uri)` opens the URI's filesystem: the active ZenML stack's artifact store when it serves that
  scheme (its credentials, endpoint and service connector), else fsspec's own with the environment's
  credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, ...).
- `list_files`, `read_bytes` and `download_directory` turn every failure (a missing bucket, wrong credentials,
  an endpoint that does not answer, a missing package) into one `EmbedtuneError` line that names the URI and
  the fix, with every credential the environment holds masked.

Nothing here reads anything on import; nothing is read on the machine that submits a run (the CLI only
checks that the text is a URI).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from embedtune import EmbedtuneError, logger
from embedtune.util.redact import redact, redact_url

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")
LOCAL_SCHEMES = {"file", "local"}
# scheme -> the pyproject extra (optional dependencies) that reads it; None: a core dependency reads it.
SCHEME_EXTRAS: dict[str, str | None] = {
    "s3": "s3", "s3a": "s3",
    "gs": "gcs", "gcs": "gcs",
    "az": "azure", "abfs": "azure", "abfss": "azure",
    "hf": None,  # huggingface_hub's HfFileSystem (a dependency of sentence-transformers)
}
# Environment variables whose values are credentials: masked in every message of this module.
SECRET_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
)
_CREDENTIAL_HINT = {
    "s3": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for an S3-compatible server), "
          "or the stack's S3 artifact store credentials",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS, or the stack's GCS artifact store credentials",
    "az": "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING, "
          "or the stack's Azure artifact store credentials",
    "hf": "HF_TOKEN for a private repository (and network access: HF_HUB_OFFLINE unset)",
}


def scheme(text: str) -> str | None:
    """The URI scheme of `text` in lower case (`s3` for `s3://b/k`), None for a path or `hf:NAME`."""
    match = _URI.match(text.strip())
    return match.group("scheme").lower() if match else None


def is_remote(text: str | None) -> bool:
    """True for `scheme://...` other than `file://`: read through fsspec inside the step, never here."""
    found = scheme(text or "")
    return found is not None and found not in LOCAL_SCHEMES


def extra_for(uri: str) -> str | None:
    """The pyproject extra that installs the filesystem package for `uri` (`s3` for `s3://...`), None when a
    core dependency reads it, and None for a local path."""
    found = scheme(uri)
    return SCHEME_EXTRAS.get(found) if found else None


def _family(uri: str) -> str:
    found = scheme(uri) or ""
    return {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az"}.get(found, found)


def _secrets() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV]
    return sorted((value for value in values if len(value) >= 4), key=len, reverse=True)


def clean_message(text: str) -> str:
    """`text` on one line, shortened, with URL credentials and every credential in the environment masked."""
    return redact(redact_url(" ".join(str(text).split())), _secrets())[:300]


def remote_error(uri: str, error: BaseException, action: str = "read") -> EmbedtuneError:
    """One line for a failed `action` on `uri`: what failed, the cause, and what to set; never a secret."""
    family = _family(uri)
    hint = _CREDENTIAL_HINT.get(family, "the credentials of that storage")
    where = redact_url(uri)
    if isinstance(error, ImportError):
        extra = extra_for(uri)
        package = f"`pip install -e '.[{extra}]'`" if extra else f"the fsspec implementation for {family}://"
        return EmbedtuneError(f"cannot {action} {where}: reading {family}:// needs {package} ({clean_message(error)})")
    if isinstance(error, FileNotFoundError):
        return EmbedtuneError(
            f"cannot {action} {where}: not found (no such bucket, or nothing under that prefix); check the URI "
            f"and that the bucket exists ({clean_message(error)})"
        )
    if isinstance(error, PermissionError):
        return EmbedtuneError(
            f"cannot {action} {where}: access denied, the credentials are wrong or lack permission; set {hint} "
            f"({clean_message(error)})"
        )
    return EmbedtuneError(
        f"cannot {action} {where}: {type(error).__name__}: {clean_message(error)}; check the URI, the network "
        f"(for an S3-compatible server: AWS_ENDPOINT_URL) and {hint}"
    )


def _stack_filesystem(uri: str) -> Any | None:
    """The active ZenML stack's artifact store filesystem when that store serves `uri`'s scheme, else None."""
    try:
        from fsspec import AbstractFileSystem
        from zenml.client import Client

        store = Client().active_stack.artifact_store
    except Exception as error:  # noqa: BLE001 - no ZenML, no store, no stack: fall back to fsspec's own
        logger.debug("no ZenML artifact store for %s: %s", redact_url(uri), error)
        return None
    prefixes = tuple(str(prefix).lower() for prefix in getattr(store.config, "SUPPORTED_SCHEMES", ()) if prefix)
    if not prefixes or not uri.lower().startswith(prefixes):
        return None
    found = getattr(store, "filesystem", None)
    return found if isinstance(found, AbstractFileSystem) else None


def filesystem(uri: str, use_stack: bool = True) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for `uri`; see the module docstring for where credentials come from."""
    found = _stack_filesystem(uri) if use_stack else None
    if found is not None:
        return found, found._strip_protocol(uri)
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(uri, skip_instance_cache=True)  # credentials as the environment holds them now
    except Exception as error:  # noqa: BLE001 - ImportError for a missing s3fs/gcsfs/adlfs among others
        raise remote_error(uri, error, "open") from None


@dataclass(frozen=True)
class RemoteFile:
    path: str  # inside the filesystem (no scheme)
    relative: str  # to the corpus root: the document's `source`
    size: int


def _size(info: dict[str, Any]) -> int:
    value = info.get("size") or info.get("Size") or 0
    return int(value)


def list_files(fs: Any, root: str, uri: str, extensions: Sequence[str] = ()) -> Iterator[RemoteFile]:
    """The files at `root` (one file, or every file under a prefix), sorted, with sizes; only those whose
    extension is in `extensions` (all when empty); hidden names (a part starting with `.`) are left out.
    A missing bucket or prefix, and denied access, raise `remote_error`."""
    wanted = {ext.lower() for ext in extensions}
    try:
        if fs.isfile(root):
            info = fs.info(root)
            yield RemoteFile(root, root.rstrip("/").rsplit("/", 1)[-1], _size(info))
            return
        found = fs.find(root, detail=True)
    except Exception as error:  # noqa: BLE001 - each filesystem raises its own types
        raise remote_error(uri, error, "list") from None
    if not found:
        raise remote_error(uri, FileNotFoundError(f"no objects under {root}"), "list")
    prefix = root.rstrip("/") + "/"
    for path in sorted(found):
        relative = path[len(prefix):] if path.startswith(prefix) else path.rsplit("/", 1)[-1]
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        if wanted and os.path.splitext(relative)[1].lower() not in wanted:
            continue
        yield RemoteFile(path, relative, _size(found[path]))


def read_bytes(fs: Any, path: str, uri: str) -> bytes:
    """The bytes of one remote file; failures as `remote_error` naming the file."""
    try:
        return fs.cat_file(path)
    except Exception as error:  # noqa: BLE001
        raise remote_error(f"{uri.rstrip('/')} ({path})", error) from None


_DOWNLOADED: dict[str, str] = {}


def _remove_downloads() -> None:
    for folder in _DOWNLOADED.values():
        shutil.rmtree(os.path.dirname(folder), ignore_errors=True)


def download_directory(uri: str, marker_files: Sequence[str] = ("modules.json", "config.json")) -> str:
    """Copy the folder at `uri` (e.g. a SentenceTransformer directory in the artifact store) into a temporary
    folder once per process and return its path; removed when the process exits. The folder must hold one of
    `marker_files`, else a clear error names them."""
    key = uri.rstrip("/")
    if key in _DOWNLOADED and os.path.isdir(_DOWNLOADED[key]):
        return _DOWNLOADED[key]
    fs, root = filesystem(key)
    parent = tempfile.mkdtemp(prefix="embedtune-remote-")
    target = os.path.join(parent, "model")
    try:
        if not fs.isdir(root):
            raise FileNotFoundError(f"no folder at {root}")
        fs.get(root.rstrip("/") + "/", target + "/", recursive=True)
    except Exception as error:  # noqa: BLE001
        shutil.rmtree(parent, ignore_errors=True)
        raise remote_error(uri, error, "download") from None
    if marker_files and not any(os.path.isfile(os.path.join(target, name)) for name in marker_files):
        shutil.rmtree(parent, ignore_errors=True)
        raise EmbedtuneError(f"{redact_url(uri)} is not a model folder: it holds none of {', '.join(marker_files)}")
    if not _DOWNLOADED:
        atexit.register(_remove_downloads)
    _DOWNLOADED[key] = target
    logger.info("downloaded %s into %s", redact_url(uri), target)
    return target
