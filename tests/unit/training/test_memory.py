"""The memory estimate before training: the formula, the refusal with a setting that fits, and that a run
that cannot fit stops before the Trainer starts."""

from __future__ import annotations

import pytest

from embedtune import EmbedtuneError
from embedtune.config import ModelConfig, TrainingConfig
from embedtune.training import memory
from tests.unit.training.test_trainer import chunks_for, make_pairs

GIB = 2**30


def qwen3_8b(device: str = "cuda", **overrides) -> memory.TrainingShape:
    """Qwen3-Embedding-8B's shape (7.57B parameters, hidden 4096, 36 layers, 32 heads) in fp32, full fine-tune."""
    parameters = 7_570_000_000
    shape = {
        "parameters": parameters, "weight_bytes": parameters * 4, "trainable": parameters, "trainable_bytes": 4,
        "lora_trainable": 16 * 36 * 7 * (4096 + 4096), "hidden_size": 4096, "layers": 36, "heads": 32,
        "seq_len": 256, "tokens_in_flight": 16 * 256, "activation_bytes": 2, "gradient_checkpointing": False,
        "lora": False, "device": device,
    }
    return memory.TrainingShape(**{**shape, **overrides})


def test_the_estimate_adds_weights_gradients_adam_and_activations():
    estimate = memory.estimate(qwen3_8b())
    assert estimate.weights == 7_570_000_000 * 4 and estimate.gradients == estimate.weights
    assert estimate.optimizer == 2 * estimate.weights  # AdamW: two fp32 moments
    assert 100 * GIB < estimate.total < 160 * GIB  # ~113 GiB of states, plus activations and overhead
    lora = memory.estimate(qwen3_8b(lora=True, trainable=qwen3_8b().lora_trainable, weight_bytes=7_570_000_000 * 2))
    assert lora.total < 50 * GIB and lora.optimizer < GIB  # 14 GiB of bf16 weights, ~25 GiB of activations
    checkpointed = memory.estimate(qwen3_8b(gradient_checkpointing=True))
    assert checkpointed.activations < memory.estimate(qwen3_8b()).activations / 10


def test_the_guides_frozen_copy_is_counted_once_beside_the_weights(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir)
    plain = memory.training_shape(model, TrainingConfig(), 32, "cpu", False)
    guided = memory.training_shape(model, TrainingConfig(in_batch_guide="base"), 32, "cpu", False)
    assert plain.guide_bytes == 0 and guided.guide_bytes == guided.weight_bytes == plain.weight_bytes > 0
    assert memory.estimate(guided).weights == 2 * memory.estimate(plain).weights
    assert memory.estimate(guided).total > memory.estimate(plain).total


def test_a_model_too_large_for_the_device_is_refused_with_the_estimate_and_a_setting_that_fits(monkeypatch):
    from embedtune.models import devices

    monkeypatch.setattr(devices, "available_memory_bytes", lambda device: 80 * GIB)  # one 80 GB GPU
    with pytest.raises(EmbedtuneError) as refused:
        memory.check_training_memory(qwen3_8b(), TrainingConfig(), 32, "Qwen/Qwen3-Embedding-8B")
    message = str(refused.value)
    assert "\n" not in message and "Qwen/Qwen3-Embedding-8B" in message
    assert "needs about 1" in message and "GiB" in message and "80.0 GiB is available" in message
    assert "set training.lora: true" in message  # LoRA alone fits 80 GB
    monkeypatch.setattr(devices, "available_memory_bytes", lambda device: 20 * GIB)
    with pytest.raises(EmbedtuneError, match="set training.lora: true, model.dtype: bfloat16, "
                                             "training.gradient_checkpointing: true "):
        memory.check_training_memory(qwen3_8b(), TrainingConfig(), 32)
    monkeypatch.setattr(devices, "available_memory_bytes", lambda device: 2 * GIB)
    with pytest.raises(EmbedtuneError, match="no setting here fits"):
        memory.check_training_memory(qwen3_8b(), TrainingConfig(), 32)
    estimate = memory.check_training_memory(qwen3_8b(), TrainingConfig(memory_check=False), 32)
    assert estimate.total > 2 * GIB  # memory_check: false only logs


def test_on_cpu_the_resident_weights_count_as_available(monkeypatch):
    from embedtune.models import devices

    shape = qwen3_8b(device="cpu", parameters=1000, weight_bytes=10 * GIB, trainable=0, lora_trainable=0,
                     tokens_in_flight=0)
    monkeypatch.setattr(devices, "available_memory_bytes", lambda device: 2 * GIB)
    assert memory.available_for_training(shape) == 12 * GIB
    memory.check_training_memory(shape, TrainingConfig(), 32)  # 10 GiB of weights already loaded fit


def test_a_run_that_cannot_fit_stops_before_the_trainer_starts(tiny_model_dir, monkeypatch):
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

    from embedtune.models import devices
    from embedtune.training.trainer import train_embedder

    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(SentenceTransformerTrainer, "train", never)
    monkeypatch.setattr(devices, "available_memory_bytes", lambda device: 1000)
    train = make_pairs(8)
    with pytest.raises(EmbedtuneError, match=r"training tiny on cpu needs about .* GiB \(weights .*\) but 0.0 GiB"):
        train_embedder(SentenceTransformer(tiny_model_dir, device="cpu"), train, [], chunks_for(train),
                       ModelConfig(base_model="tiny", matryoshka_dims=[64]), TrainingConfig(batch_size=8))


def test_the_shape_of_a_real_model_counts_its_parameters_and_lora_layers(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    shape = memory.training_shape(model, TrainingConfig(lora_r=4, mini_batch_size=4), 8, "cpu", False)
    assert shape.parameters == sum(p.numel() for p in model.parameters()) == shape.trainable
    assert (shape.hidden_size, shape.layers, shape.heads, shape.activation_bytes) == (64, 2, 2, 4)
    # 2 layers x (q, k, v, out: 64->64; intermediate 64->128; output 128->64) + pooler 64->64, each r x (in + out)
    assert shape.lora_trainable == 4 * (2 * (4 * 128 + 192 + 192) + 128)
    assert shape.tokens_in_flight == 4 * shape.seq_len
    # bf16 autocast halves activations on a GPU only: on a CPU much stays fp32, so the estimate keeps 4 bytes
    assert memory.training_shape(model, TrainingConfig(), 8, "cpu", True).activation_bytes == 4
    assert memory.training_shape(model, TrainingConfig(), 8, "cuda", True).activation_bytes == 2


def test_margin_mse_activations_grow_with_the_negatives_per_row():
    from embedtune.training.memory import tokens_in_flight

    config = TrainingConfig(loss="margin_mse")
    assert tokens_in_flight(config, 8, 100) == 8 * 3 * 100  # query, positive, one negative
    assert tokens_in_flight(config, 8, 100, margin_texts=6) == 8 * 6 * 100  # four negatives per row
    listwise = TrainingConfig(loss="mnrl+distill_kl", mini_batch_size=4)
    assert tokens_in_flight(listwise, 8, 100, margin_texts=10) == 8 * 10 * 100  # the listwise batch, not MNRL's
