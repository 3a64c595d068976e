"""One resolved model: everything embedtune needs to know about a model name, decided in one place.

`resolve_spec(name)` answers "what does this model need?" once: where its files are, which query and
document prompts it gets, its dimension, Matryoshka truncations, max length, license and kind (local
or API). Prompts are decided here and nowhere else, in this order:

1. the prompts given explicitly (`model.query_prompt` / `model.document_prompt` in the config; setting
   either one wins for both);
2. the catalog's (`embedtune.models.catalog`), for models it knows;
3. what the model ships in its own `config_sentence_transformers.json` (a model tuned by embedtune
   ships the prompts it was trained with).

`embedtune.models.loading.load_embedder(spec)` writes the resolved prompts onto the loaded model, so
training, evaluation, filtering and mining all read the same prompts from the model itself.

Example:
    >>> from embedtune.models.spec import resolve_spec
    >>> spec = resolve_spec("nomic-ai/modernbert-embed-base")
    >>> spec.query_prompt, spec.document_prompt
    ('search_query: ', 'search_document: ')
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from embedtune.models.catalog import CatalogEntry, is_api_spec, lookup

if TYPE_CHECKING:
    from embedtune.config import ModelConfig


@dataclass(frozen=True)
class ModelSpec:
    """A model name resolved: pass this down instead of the bare name."""

    name: str  # as the user wrote it (hub id, alias, local path, or provider:model)
    path: str | None  # local directory with the weights; None for API models or unresolvable names
    kind: Literal["local", "api"] = "local"
    query_prompt: str = ""
    document_prompt: str = ""
    dim: int | None = None
    matryoshka_dims: tuple[int, ...] = ()
    max_seq_length: int | None = None
    license: str = "unknown"
    commercial_use: bool = True
    entry: CatalogEntry | None = None  # the catalog entry, when the catalog knows the model
    needs_remote_code: bool = False  # runs Python code from its folder: loads only with trust_remote_code
    pooling: str = ""  # the family's pooling for a bare transformers folder (no modules.json); "" = the default
    parameters: int | None = None  # from the weight files' headers, else the catalog; None when unknown

    @property
    def prompts(self) -> dict[str, str]:
        """The prompts in sentence-transformers' `model.prompts` form (empty ones left out)."""
        return {key: value for key, value in (("query", self.query_prompt), ("document", self.document_prompt)) if value}


def _model_files(name_or_path: str) -> Path | None:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    try:
        from embedtune.models.paths import resolve_model

        return Path(resolve_model(name_or_path))
    except Exception:  # noqa: BLE001 - unknown models simply have no files to read
        return None


def shipped_prompts(folder: Path | None) -> tuple[str, str]:
    """(query, document) prompts a model folder ships in its config_sentence_transformers.json, if any."""
    if folder is None or not (folder / "config_sentence_transformers.json").is_file():
        return "", ""
    try:
        prompts = json.loads((folder / "config_sentence_transformers.json").read_text()).get("prompts") or {}
    except (OSError, ValueError):
        return "", ""
    query = prompts.get("query") or ""
    document = prompts.get("document") or prompts.get("passage") or prompts.get("corpus") or ""
    return str(query), str(document)


def folder_needs_remote_code(folder: Path | None) -> bool:
    """Whether a model folder maps its architecture to code it ships (`auto_map` in config.json)."""
    if folder is None or not (folder / "config.json").is_file():
        return False
    try:
        return bool(json.loads((folder / "config.json").read_text()).get("auto_map"))
    except (OSError, ValueError):
        return False


def parameter_count(folder: Path | None) -> int | None:
    """Parameters in a folder's safetensors files (the folder and its module subfolders), read from the
    files' JSON headers only; None when there are none (or one is unreadable)."""
    if folder is None:
        return None
    files = sorted({*folder.glob("*.safetensors"), *folder.glob("*/*.safetensors")})
    if not files:
        return None
    total = 0
    try:
        for file in files:
            with file.open("rb") as handle:
                (size,) = struct.unpack("<Q", handle.read(8))
                if size > 100_000_000:
                    return None
                header = json.loads(handle.read(size))
            total += sum(math.prod(t["shape"]) for key, t in header.items() if key != "__metadata__")
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    return total


def card_matryoshka_dims(folder: Path | None) -> tuple[int, ...]:
    """Matryoshka dims written in an embedtune / sentence-transformers model card (README.md), if any."""
    card = folder / "README.md" if folder else None
    if card is None or not card.is_file():
        return ()
    match = re.search(r'"matryoshka_dims"\s*:\s*\[([\d,\s]+)\]', card.read_text(encoding="utf-8", errors="ignore"))
    if not match:
        return ()
    return tuple(sorted({int(d) for d in match.group(1).replace(",", " ").split()}, reverse=True))


def resolve_spec(name_or_path: str, query_prompt: str = "", document_prompt: str = "") -> ModelSpec:
    """Resolve a model name once: files, prompts (explicit > catalog > shipped), dims, license, kind.

    Args:
        name_or_path: a hub id or alias (`all-MiniLM-L6-v2`), a local SentenceTransformer folder, or an
            API model `provider:model` (`openai:text-embedding-3-small`).
        query_prompt, document_prompt: explicit prompts; when either is set, both are used as given.
    """
    entry = lookup(name_or_path)
    if is_api_spec(name_or_path):
        from embedtune.models.api import api_entry

        entry = api_entry(name_or_path)
        query, document = (query_prompt, document_prompt) if query_prompt or document_prompt else (
            (entry.query_prompt, entry.document_prompt) if entry else ("", "")
        )
        return ModelSpec(
            name=name_or_path, path=None, kind="api", query_prompt=query, document_prompt=document,
            dim=entry.dim if entry else None, matryoshka_dims=entry.matryoshka_dims if entry else (),
            max_seq_length=entry.max_seq_length if entry else None,
            license=entry.license if entry else "unknown", entry=entry,
        )
    folder = _model_files(name_or_path)
    if query_prompt or document_prompt:
        query, document = query_prompt, document_prompt
    elif entry is not None:
        query, document = entry.query_prompt, entry.document_prompt
    else:
        query, document = shipped_prompts(folder)
    return ModelSpec(
        name=name_or_path,
        path=str(folder) if folder else None,
        query_prompt=query,
        document_prompt=document,
        dim=entry.dim if entry else None,
        matryoshka_dims=entry.matryoshka_dims if entry else card_matryoshka_dims(folder),
        max_seq_length=entry.max_seq_length if entry else None,
        license=entry.license if entry else "unknown",
        commercial_use=entry.commercial_use if entry else True,
        entry=entry,
        needs_remote_code=bool(entry and entry.trust_remote_code) or folder_needs_remote_code(folder),
        pooling=entry.pooling if entry else "",
        parameters=parameter_count(folder) or (int(entry.parameters * 1e9) if entry and entry.parameters else None),
    )


def spec_for(model_config: ModelConfig) -> ModelSpec:
    """The base model of a run config, with the config's explicit prompts (if any)."""
    return resolve_spec(model_config.base_model, model_config.query_prompt, model_config.document_prompt)
