"""Fixtures of the model tests: tiny models of each open family (see families.py)."""

from __future__ import annotations

import pytest

from tests.unit.models.families import build_family_model


@pytest.fixture(scope="session")
def family_model(tmp_path_factory, minilm_path):
    """`family_model(name)`: the folder of the tiny model of that family, built once per session."""
    built: dict[str, str] = {}

    def get(family: str) -> str:
        if family not in built:
            built[family] = str(build_family_model(family, tmp_path_factory.mktemp(f"family-{family}"), minilm_path))
        return built[family]

    return get


@pytest.fixture
def modules_cache(tmp_path, monkeypatch):
    """Remote code a test loads is copied here, not into ~/.cache/huggingface/modules."""
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    return tmp_path / "hf-modules"
