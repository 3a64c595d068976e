"""LoRA adapter folders (`training.lora_save: adapter`): write them, and find their base model on load.

An adapter folder is a sentence-transformers folder whose transformer module holds only peft's adapter:

- `adapter_config.json` (peft's `LoraConfig`) and `adapter_model.safetensors` (the LoRA weights, keys
  `base_model.model.<module>.lora_A.weight`: peft's and transformers' own format), megabytes, no base
  weights and no `config.json`;
- `adapter_config.json`'s `base_model_name_or_path` names the base: the Hub id when the base was loaded
  from the Hugging Face cache (portable), else its absolute folder (the bundled MiniLM inside its Python
  package, a local path: valid on this machine only);
- `embedtune_adapter.json` (`AdapterBase`): the run's base model name (`model.base_model`), that reference,
  the folder it was at, and a fingerprint of the base's files.

Plain `SentenceTransformer(path)` (peft installed, no embedtune) loads the base named in
`adapter_config.json`, then the adapter on it. Where that reference does not hold (another machine, a
temporary download), embedtune's loaders (the ZenML materializer, `load_embedder`) call `localize`: the
base is found again by its recorded name (`embedtune.models.paths.resolve_model`: the bundled MiniLM of
this machine, the Hub cache, a bucket URI), checked against the fingerprint, and the folder's reference
rewritten (in a copy, unless told otherwise). A base that is not here, or differs, is one EmbedtuneError
line.

transformers' own adapter saving (`save_pretrained` of a model with `_hf_peft_config_loaded`) wants a
newer peft than the registry has, so `attach` gives the model a `save_pretrained` that writes the files
above with peft's own functions: every `model.save(path)` then writes an adapter folder.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
RECORD_FILE = "embedtune_adapter.json"
ADAPTER_NAME = "default"  # peft's adapter name; the saved keys carry none
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_SAMPLE = 1 << 20  # bytes read from each end of a weight file for the fingerprint
_HUB_SNAPSHOT = re.compile(r"/models--([^/]+)/snapshots/([0-9a-f]{6,64})/?$")
_STALE = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


@dataclass(frozen=True)
class AdapterBase:
    """The base model an adapter was trained on (`embedtune_adapter.json`)."""

    name: str  # the run's model.base_model: an alias, a Hub id, a path or a bucket URI
    reference: str  # what adapter_config.json's base_model_name_or_path says: a Hub id or an absolute folder
    path: str  # the folder the base was loaded from on the machine that trained the adapter
    fingerprint: str  # `base_fingerprint` of that folder
    revision: str | None = None  # the Hub commit, when the base came from the Hugging Face cache


def base_fingerprint(folder: str | Path) -> str:
    """A fingerprint of a transformers model folder: config.json, and each weight file's name, size and
    first and last MiB. Tells another model (or another revision) apart in milliseconds, even for 16 GB of
    weights; it does not vouch for every byte."""
    root = Path(folder)
    digest = hashlib.sha256()
    config = root / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for file in sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)):
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(_SAMPLE))
            handle.seek(max(0, size - _SAMPLE))
            digest.update(handle.read(_SAMPLE))
    return digest.hexdigest()[:16]


def base_reference(folder: str | Path) -> tuple[str, str | None]:
    """(reference, revision) for `base_model_name_or_path`: the Hub id and commit of a Hugging Face cache
    snapshot folder, else the absolute folder and None."""
    resolved = Path(folder).expanduser().resolve()
    match = _HUB_SNAPSHOT.search(resolved.as_posix())
    if match:
        return match.group(1).replace("--", "/"), match.group(2)
    return str(resolved), None


def describe_base(name: str, folder: str | Path) -> AdapterBase:
    """The `AdapterBase` of a base model loaded from `folder` under the run's name `name`."""
    if not str(folder) or not (Path(folder) / "config.json").is_file():
        raise EmbedtuneError(f"training.lora_save: adapter needs a base model loaded from a model folder, but {name} "
                             f"has no config.json at {folder}; set training.lora_save: merged")
    reference, revision = base_reference(folder)
    return AdapterBase(name=str(name), reference=reference, path=str(Path(folder).resolve()),
                       fingerprint=base_fingerprint(folder), revision=revision)


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def read_record(folder: str | Path) -> AdapterBase | None:
    """The folder's `embedtune_adapter.json`, or None (not an adapter folder, or one embedtune did not write)."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        return None
    fields = json.loads(path.read_text(encoding="utf-8"))
    return AdapterBase(**{key: fields.get(key) for key in AdapterBase.__dataclass_fields__})


def adapter_bytes(folder: str | Path) -> int:
    """Size of the adapter's weights in `folder` (0 when it holds none)."""
    path = Path(folder) / ADAPTER_WEIGHTS
    return path.stat().st_size if path.is_file() else 0


def folder_bytes(folder: str | Path) -> int:
    """Size of every file under `folder`."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _transformers_model(model: SentenceTransformer) -> Any:
    first = model[0] if len(model) else None
    return getattr(model, "transformers_model", None) or getattr(first, "auto_model", None)


def attached_base(model: SentenceTransformer) -> AdapterBase | None:
    """The `AdapterBase` of a model that saves as an adapter folder (see `attach`), else None."""
    inner = _transformers_model(model)
    return getattr(inner, "embedtune_adapter", None) if inner is not None else None


def attach(model: SentenceTransformer, base: AdapterBase) -> None:
    """Make `model` (its transformers model carries peft LoRA layers) save as an adapter folder on `base`:
    its transformers model's `save_pretrained` becomes `save_adapter_files`, so `model.save(path)` writes
    the adapter, the tokenizer and every other module as usual."""
    inner = _transformers_model(model)
    if inner is None or ADAPTER_NAME not in (getattr(inner, "peft_config", None) or {}):
        raise EmbedtuneError("this model has no LoRA adapter to save (training.lora_save: adapter needs training.lora)")
    inner.embedtune_adapter = base
    inner.save_pretrained = functools.partial(save_adapter_files, inner)


def save_adapter_files(inner: Any, save_directory: str | Path, *args: Any, **kwargs: Any) -> None:
    """Write the adapter of transformers model `inner` into `save_directory`: adapter_config.json (base
    reference set), adapter_model.safetensors and embedtune_adapter.json. Weights and config.json of an
    earlier save there are removed (transformers would load the folder itself as the base)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    base: AdapterBase = inner.embedtune_adapter
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name in _STALE:
        (folder / name).unlink(missing_ok=True)
    state = get_peft_model_state_dict(inner, adapter_name=ADAPTER_NAME)
    save_file({f"base_model.model.{key}": value.detach().contiguous().cpu() for key, value in state.items()},
              str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config = copy.deepcopy(inner.peft_config[ADAPTER_NAME])
    config.base_model_name_or_path = base.reference
    config.revision = base.revision
    config.inference_mode = True
    config.save_pretrained(str(folder))
    (folder / RECORD_FILE).write_text(json.dumps(asdict(base), indent=2) + "\n", encoding="utf-8")
    logger.info("saved a LoRA adapter (%.1f MB) on base %s", adapter_bytes(folder) / 1e6, base.reference)


def _candidate_folder(candidate: str) -> str | None:
    """A local folder for a base reference or name, or None when it is not available here."""
    from embedtune.models.paths import resolve_model

    if not candidate:
        return None
    if Path(candidate).expanduser().is_absolute():
        return candidate if Path(candidate, "config.json").is_file() else None
    try:
        folder = resolve_model(candidate)
    except EmbedtuneError:
        return None
    return folder if Path(folder, "config.json").is_file() else None


def base_parameters(folder: str | Path) -> int | None:
    """Parameters of the base model an adapter folder names, when that base is a local folder."""
    from embedtune.models.spec import parameter_count

    reference = Path(base_reference_of(folder))
    return parameter_count(reference) if reference.is_absolute() and reference.is_dir() else None


def adapter_reference(model: SentenceTransformer) -> str | None:
    """What an adapter save of `model` names as its base (`base_model_name_or_path`); None for a model that
    saves full weights."""
    base = attached_base(model)
    return base.reference if base is not None else None


def base_reference_of(folder: str | Path) -> str:
    """`base_model_name_or_path` of an adapter folder."""
    return str(json.loads((Path(folder) / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path") or "")


def localize(folder: str | Path, in_place: bool = False, label: str | None = None) -> str:
    """An adapter folder whose base reference holds on this machine: `folder` itself when its base is here
    (and matches the recorded fingerprint), else a copy (or `folder`, `in_place`) with the reference
    rewritten to the base found by its recorded name. Not an adapter folder, or one without
    embedtune_adapter.json: `folder`, unchanged. Raises EmbedtuneError (one line, naming the folder as `label`
    when given, e.g. the artifact a temporary copy came from) when the base is not here or differs."""
    record = read_record(folder) if is_adapter_folder(folder) else None
    if record is None:
        return str(folder)
    reference = base_reference_of(folder)
    differing = []
    for candidate in dict.fromkeys([reference, record.path, record.name]):
        local = _candidate_folder(candidate)
        if local is None:
            continue
        if record.fingerprint and base_fingerprint(local) != record.fingerprint:
            differing.append(local)
            continue
        if candidate == reference:
            return str(folder)
        return _rewrite_reference(folder, local, in_place)
    found = f"; {', '.join(differing)} differs from it (fingerprint)" if differing else ""
    raise EmbedtuneError(
        f"{label or folder} is a LoRA adapter on base model '{record.name}' (fingerprint {record.fingerprint}, trained at "
        f"{record.path}), which is not on this machine{found}: install or download that base, or train with "
        "training.lora_save: merged"
    )


_copies: list[str] = []


def _remove_copies() -> None:
    for path in _copies:
        shutil.rmtree(path, ignore_errors=True)


def _rewrite_reference(folder: str | Path, base_folder: str, in_place: bool) -> str:
    target = Path(folder)
    if not in_place:
        if not _copies:
            atexit.register(_remove_copies)
        target = Path(tempfile.mkdtemp(prefix="embedtune-adapter-")) / "model"
        _copies.append(str(target.parent))
        shutil.copytree(folder, target)
    config_path = target / ADAPTER_CONFIG
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_folder
    config["revision"] = None
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("LoRA adapter %s: its base model is at %s on this machine", folder, base_folder)
    return str(target)


def after_load(model: SentenceTransformer, folder: str | Path) -> SentenceTransformer:
    """A model loaded from adapter folder `folder` saves as an adapter folder again (see `attach`)."""
    record = read_record(folder) if is_adapter_folder(folder) else None
    inner = _transformers_model(model)
    if record is None or inner is None or ADAPTER_NAME not in (getattr(inner, "peft_config", None) or {}):
        return model
    reference = base_reference_of(folder)  # where the base is on this machine, after `localize`
    if Path(reference).is_absolute():
        here, revision = base_reference(reference)
        record = replace(record, reference=here, revision=revision, path=reference)
    attach(model, record)
    return model
