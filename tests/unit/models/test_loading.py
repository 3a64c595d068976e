"""Loading: the spec's prompts on the model, dtype, remote code opt-in, memory before loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from embedtune import EmbedtuneError
from embedtune.models.loading import load_embedder


def test_load_embedder_gives_a_catalog_model_its_prompts(tiny_model_dir, monkeypatch):
    """What evaluation reads and what a model tuned from it saves."""
    from embedtune.models import loading as models

    monkeypatch.setattr(models, "resolve_model", lambda name: tiny_model_dir)
    model = load_embedder("nomic-ai/modernbert-embed-base")
    assert model.prompts["query"] == "search_query: " and model.prompts["document"] == "search_document: "
    assert not (load_embedder(tiny_model_dir).prompts.get("query"))


def test_a_checkpoint_saved_in_fp16_still_loads_with_fp32_master_weights(tiny_model_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    half = SentenceTransformer(tiny_model_dir, device="cpu").half()
    half.save(str(tmp_path / "half"))
    assert next(half.parameters()).dtype == torch.float16
    loaded = load_embedder(str(tmp_path / "half"), device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}


@pytest.mark.parametrize("name", ["nvidia/NV-Embed-v2", "Snowflake/snowflake-arctic-embed-m-v2.0"])
def test_a_model_that_runs_its_own_code_is_refused_until_the_user_opts_in(name):
    from embedtune.models.catalog import lookup

    assert lookup(name).trust_remote_code
    with pytest.raises(EmbedtuneError, match="set model.trust_remote_code: true to load it") as refused:
        load_embedder(name, device="cpu")  # refused before any file is looked for
    assert "\n" not in str(refused.value)


def test_load_options_carry_the_run_configs_loading_settings():
    from embedtune.config import ModelConfig
    from embedtune.models.loading import load_options

    assert load_options(ModelConfig(trust_remote_code=True, dtype="bfloat16")) == {
        "trust_remote_code": True, "dtype": "bfloat16"}
    assert load_options(ModelConfig()) == {"trust_remote_code": False, "dtype": "auto"}


def test_auto_dtype_is_fp32_except_large_models_on_a_gpu(monkeypatch):
    from embedtune.models import devices

    big, small = 4_000_000_000, 22_000_000
    assert devices.resolve_dtype("auto", "cpu", big) == "float32"
    assert devices.resolve_dtype("auto", "mps", big) == "float32"
    monkeypatch.setattr(devices, "supports_bf16", lambda device: True)
    assert devices.resolve_dtype("auto", "cuda", big) == "bfloat16"
    assert devices.resolve_dtype("auto", "cuda", small) == "float32"
    assert devices.resolve_dtype("auto", "cuda", None) == "float32"  # unknown size: the safe choice
    assert devices.resolve_dtype("float16", "cpu", small) == "float16"  # explicit wins
    monkeypatch.setattr(devices, "supports_bf16", lambda device: False)  # e.g. a T4
    assert devices.resolve_dtype("auto", "cuda", big) == "float16"
    with pytest.raises(EmbedtuneError, match="no bf16 support"):
        devices.resolve_dtype("bfloat16", "cuda", big)


def test_an_explicit_dtype_loads_the_weights_in_it(tiny_model_dir):
    model = load_embedder(tiny_model_dir, device="cpu", dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.encode(["hello"]).shape == (1, 64)


def test_weights_that_cannot_fit_the_device_are_refused_before_loading(tiny_model_dir, monkeypatch):
    from embedtune.models import loading
    from embedtune.models.spec import parameter_count, resolve_spec

    spec = resolve_spec(tiny_model_dir)
    assert spec.parameters == parameter_count(Path(tiny_model_dir))
    assert spec.parameters == sum(p.numel() for p in load_embedder(spec, device="cpu").parameters())
    monkeypatch.setattr(loading, "available_memory_bytes", lambda device: 1000)
    with pytest.raises(EmbedtuneError, match=r"GiB of float32 weights, but cpu has 0.0 GiB available; use a CUDA"):
        load_embedder(spec, device="cpu")


def test_matryoshka_dims_are_checked_against_the_catalog_without_loading(monkeypatch):
    from embedtune.models import loading

    def no_loading(*args, **kwargs):
        raise AssertionError("loaded a model")

    monkeypatch.setattr(loading, "load_embedder", no_loading)
    loading.check_matryoshka_dims("nvidia/NV-Embed-v2", [4096, 1024])
    with pytest.raises(EmbedtuneError, match=r"\[2048\] exceed the dimension 1024 of BAAI/bge-m3"):
        loading.check_matryoshka_dims("BAAI/bge-m3", [2048, 512])
