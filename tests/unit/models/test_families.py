"""Each open model family, offline: load -> (LoRA) fine-tune -> save -> plain SentenceTransformer load -> encode.

The tiny models (tests/unit/models/families.py) have the real families' architectures and are loaded under
the catalog names they stand in for, so the catalog's pooling, prompts and remote-code rule apply as they
would to the real model. These tests back the "fine-tune" column of docs/choosing-a-base-model.md.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from embedtune import EmbedtuneError
from embedtune.config import ModelConfig, TrainingConfig
from embedtune.models.loading import load_embedder
from embedtune.models.spec import resolve_spec
from embedtune.training.trainer import train_embedder
from tests.unit.models.families import POOLING, STANDS_FOR
from tests.unit.training.test_trainer import chunks_for, make_pairs

PROBE = ["what about neutron stars", "A passage on sourdough bread, item 3."]


@pytest.fixture
def as_catalog_model(monkeypatch):
    """`as_catalog_model(family, folder)`: the catalog name of the family now resolves to `folder`."""
    from embedtune.models import loading, paths

    def install(family: str, folder: str) -> str:
        name = STANDS_FOR[family]
        original = paths.resolve_model

        def resolve(candidate: str) -> str:
            return folder if candidate == name else original(candidate)

        monkeypatch.setattr(paths, "resolve_model", resolve)
        monkeypatch.setattr(loading, "resolve_model", resolve)
        return name

    return install


def pooling_mode(model) -> str:
    pooling = next(module for module in model if type(module).__name__ == "Pooling")
    return pooling.pooling_mode if isinstance(pooling.pooling_mode, str) else pooling.get_pooling_mode_str()


def fine_tune(model, lora: bool, name: str = "tiny", **training):
    """Three steps, no warmup, best of three validation checkpoints (LoRA: adapters put back from it)."""
    train, validation = make_pairs(24), make_pairs(4, doc_prefix="v")
    settings = {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3 if lora else 5e-4,
                "warmup_ratio": 0.0, "evals_per_epoch": 3, "lora": lora, "lora_r": 4, "lora_alpha": 8,
                "progress_bar": False, **training}
    return train_embedder(model, train, validation, chunks_for(train + validation),
                          ModelConfig(base_model=name, matryoshka_dims=[32, 16]), TrainingConfig(**settings))


CASES = [  # (family, LoRA?, model.dtype); bfloat16 also checkpoints activations
    ("qwen3", True, "auto"),
    ("qwen3", False, "auto"),
    ("qwen3", True, "bfloat16"),  # the large-model path (bf16 weights, fp32 adapters), on CPU
    ("modernbert", True, "auto"),
    ("xlm-roberta", True, "auto"),
    ("bert", True, "auto"),
    ("bert", False, "auto"),
]


@pytest.mark.parametrize(("family", "lora", "dtype"), CASES, ids=[f"{f}-{'lora' if lo else 'full'}-{d}" for f, lo, d in CASES])
def test_family_fine_tunes_saves_and_reloads_as_a_plain_sentence_transformer(
    family, lora, dtype, family_model, as_catalog_model, tmp_path
):
    from sentence_transformers import SentenceTransformer

    name = as_catalog_model(family, family_model(family))
    model = load_embedder(name, max_seq_length=64, device="cpu", dtype=dtype)
    assert pooling_mode(model) == POOLING[family]  # qwen3's folder is bare: last-token comes from the catalog
    assert type(model[-1]).__name__ == "Normalize"
    assert {str(p.dtype) for p in model.parameters()} == {f"torch.{'float32' if dtype == 'auto' else dtype}"}
    assert model.prompts == resolve_spec(name).prompts
    before = model.encode(PROBE, prompt_name="query" if model.prompts.get("query") else None)

    result = fine_tune(model, lora, name, gradient_checkpointing=dtype == "bfloat16")

    assert result.metrics["lora"] is lora and result.metrics["global_steps"] == 3
    assert result.metrics["best_checkpoint"].startswith("checkpoint-")
    assert model[0].auto_model.is_gradient_checkpointing is (dtype == "bfloat16")
    assert result.metrics["weights_dtype"] == ("float32" if dtype == "auto" else dtype)
    if lora:
        total = sum(p.numel() for p in model.parameters())
        assert 0 < result.metrics["trainable_parameters"] < total / 5  # only the adapters trained
    tuned = result.model.encode(PROBE, prompt_name="query" if model.prompts.get("query") else None)
    assert not np.allclose(before, tuned, atol=1e-4)
    folder = tmp_path / "tuned"
    result.model.save(str(folder))
    assert not (folder / "adapter_config.json").exists() and not (folder / "adapter_model.safetensors").exists()
    reloaded = SentenceTransformer(str(folder), device="cpu")  # plain: no peft, no embedtune, no catalog
    assert pooling_mode(reloaded) == POOLING[family]
    again = reloaded.encode(PROBE, prompt_name="query" if reloaded.prompts.get("query") else None)
    tolerance = 2e-2 if dtype == "bfloat16" else 1e-5
    assert np.allclose(tuned, again, atol=tolerance)
    assert json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"].get("query", "") == \
        resolve_spec(name).query_prompt


PLAIN_LOAD = """
import json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
folder, expected, prompt = sys.argv[1], np.load(sys.argv[2]), sys.argv[3] or None
model = SentenceTransformer(folder, device="cpu")
assert "embedtune" not in sys.modules
print(json.dumps({"max_difference": float(np.abs(model.encode(json.loads(sys.argv[4]), prompt_name=prompt) - expected).max()),
                  "lora_layers": sum("lora_A" in name for name, _ in model.named_parameters())}))
"""


@pytest.mark.parametrize("family", ["qwen3", "modernbert", "xlm-roberta", "bert"])
def test_a_lora_adapter_save_is_small_and_loads_with_plain_sentence_transformers_in_a_fresh_process(
    family, family_model, as_catalog_model, tmp_path
):
    """training.lora_save: adapter: the saved folder holds the adapter only, on its base's folder (qwen3: a bare
    transformers folder, the others sentence-transformers ones); a new Python process without embedtune loads it."""
    import subprocess
    import sys
    from pathlib import Path

    base = family_model(family)
    name = as_catalog_model(family, base)
    model = load_embedder(name, max_seq_length=64, device="cpu")
    prompt = "query" if model.prompts.get("query") else ""
    before = model.encode(PROBE, prompt_name=prompt or None)
    result = fine_tune(model, lora=True, name=name, lora_save="adapter")
    assert result.metrics["lora_save"] == "adapter" and result.metrics["best_checkpoint"].startswith("checkpoint-")
    tuned = result.model.encode(PROBE, prompt_name=prompt or None)
    assert not np.allclose(before, tuned, atol=1e-4)
    folder = tmp_path / "adapter"
    result.model.save(str(folder))

    files = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "modules.json", "tokenizer.json"} <= files
    assert not files & {"model.safetensors", "config.json"}  # no base weights
    assert (folder / "adapter_model.safetensors").stat().st_size < Path(base, "model.safetensors").stat().st_size / 2
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(Path(base).resolve()) and config["r"] == 4
    np.save(tmp_path / "tuned.npy", tuned)
    process = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(folder), str(tmp_path / "tuned.npy"), prompt, json.dumps(PROBE)],
        check=False, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.returncode == 0, process.stderr[-2000:]
    loaded = json.loads(process.stdout.strip().splitlines()[-1])
    assert loaded["lora_layers"] > 0 and loaded["max_difference"] < 1e-5


def test_a_remote_code_model_loads_only_when_trusted_and_fine_tunes_with_lora(
    modules_cache, family_model, as_catalog_model, tmp_path
):
    from sentence_transformers import SentenceTransformer

    name = as_catalog_model("remote", family_model("remote"))
    assert resolve_spec(name).needs_remote_code
    with pytest.raises(EmbedtuneError, match="set model.trust_remote_code: true"):
        load_embedder(name, device="cpu")
    model = load_embedder(name, max_seq_length=64, device="cpu", trust_remote_code=True)
    assert type(model[0].auto_model).__name__ == "TinyRemoteModel"  # the folder's own code ran
    before = model.encode(PROBE)
    result = fine_tune(model, lora=True, name=name)
    folder = tmp_path / "tuned"
    result.model.save(str(folder))
    assert not np.allclose(before, result.model.encode(PROBE), atol=1e-4)
    assert resolve_spec(str(folder)).needs_remote_code  # the tuned copy ships the code, and says so
    reloaded = SentenceTransformer(str(folder), device="cpu", trust_remote_code=True)
    assert np.allclose(result.model.encode(PROBE), reloaded.encode(PROBE), atol=1e-5)


def test_a_folder_that_ships_sentence_transformers_modules_keeps_its_own_pooling(family_model, monkeypatch):
    """The catalog's family pooling is only for bare folders: BGE-M3's is CLS, and a shipped config that
    says mean wins over it."""
    from embedtune.models import catalog
    from embedtune.models import spec as specs

    folder = family_model("modernbert")  # ships Pooling(mean)
    entry = catalog.lookup("BAAI/bge-m3")
    monkeypatch.setattr(specs, "lookup", lambda name: entry)
    spec = resolve_spec(folder)
    assert spec.pooling == "cls"
    assert pooling_mode(load_embedder(spec, device="cpu")) == "mean"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; this machine has none")
def test_on_a_gpu_lora_trains_a_bf16_qwen3_with_gradient_checkpointing(family_model, as_catalog_model):
    name = as_catalog_model("qwen3", family_model("qwen3"))
    model = load_embedder(name, device="cuda", dtype="bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    started = time.perf_counter()
    result = fine_tune(model, lora=True, name=name, gradient_checkpointing=True)
    assert result.metrics["device"].startswith("cuda") and result.metrics["gradient_checkpointing"] is True
    assert result.metrics["peak_gpu_memory_gb"] > 0 and time.perf_counter() - started < 120


def test_every_open_family_is_ranked_by_compare_and_scored_by_evaluate(family_model, monkeypatch):
    """compare and evaluate load each family under its catalog name: its prompts, pooling and dims apply."""
    from embedtune.evaluation import leaderboard as compare
    from embedtune.evaluation.benchmark import Benchmark, evaluate_models, load_models
    from embedtune.models import loading, paths
    from tests.unit.samples import CORPUS, QRELS, QUERIES

    folders = {STANDS_FOR[f]: family_model(f) for f in ("qwen3", "modernbert", "xlm-roberta", "bert")}
    original = paths.resolve_model
    monkeypatch.setattr(paths, "resolve_model", lambda name: folders.get(name) or original(name))
    monkeypatch.setattr(loading, "resolve_model", lambda name: folders.get(name) or original(name))
    names = list(folders)
    board = compare.compare_candidates(names, QUERIES, CORPUS, QRELS, compare.CompareSettings(
        bootstrap_samples=100, precisions=("float32",)))
    assert {c["spec"] for c in board["candidates"]} == set(names)
    assert all(0.0 <= row["ndcg@10"] <= 1.0 for row in board["rows"])
    report = evaluate_models(load_models(names), Benchmark(dict(QUERIES), dict(CORPUS), dict(QRELS)), dims=[32])
    assert set(report["models"]) == set(names)
    assert all(0.0 <= report["models"][name]["32"]["ndcg@10"] <= 1.0 for name in names)


def test_compare_and_evaluate_load_a_remote_code_model_when_the_run_trusts_it(
    modules_cache, family_model, as_catalog_model
):
    """The run's model.trust_remote_code reaches compare's and evaluate's loaders (refused without it)."""
    from embedtune.config import ModelConfig
    from embedtune.evaluation import leaderboard as compare
    from embedtune.evaluation.benchmark import load_models

    name = as_catalog_model("remote", family_model("remote"))
    with pytest.raises(EmbedtuneError, match="set model.trust_remote_code: true"):
        load_models([name], ModelConfig(device="cpu"))
    loaded = load_models([name], ModelConfig(device="cpu", trust_remote_code=True))
    assert type(loaded[name][0].auto_model).__name__ == "TinyRemoteModel"
    with pytest.raises(EmbedtuneError, match="set model.trust_remote_code: true"):
        compare.local_encoder(name, compare.CompareSettings())
    assert callable(compare.local_encoder(name, compare.CompareSettings(trust_remote_code=True)))
