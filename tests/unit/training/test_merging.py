"""WiSE-FT: the tuned weights mixed with the base's, in the trainer and on their own."""

from __future__ import annotations

import pytest
import torch

from embedtune import EmbedtuneError
from embedtune.config import ModelConfig, TrainingConfig
from embedtune.training.merging import interpolate, snapshot
from embedtune.training.trainer import train_embedder
from tests.unit.training.test_trainer import chunks_for, make_pairs


def weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items() if tensor.is_floating_point()}


def test_interpolate_lands_on_the_share_between_base_and_tuned(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    base = snapshot(model)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(1.0)  # "training"
    assert interpolate(model, base, 0.25) == len(base)
    for name, tensor in weights(model).items():
        assert torch.allclose(tensor, base[name] + 0.25, atol=1e-5), name
    interpolate(model, base, 0.0)
    assert all(torch.allclose(tensor, base[name]) for name, tensor in weights(model).items())


def test_interpolate_refuses_other_weights_and_shares_out_of_range(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    base = snapshot(model)
    with pytest.raises(EmbedtuneError, match="in \\[0, 1\\]"):
        interpolate(model, base, 1.5)
    base.pop(next(iter(base)))
    with pytest.raises(EmbedtuneError, match="weights differ"):
        interpolate(model, base, 0.5)


def test_the_trainer_merges_with_the_base_when_asked(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    train, validation = make_pairs(24), make_pairs(4, doc_prefix="v")
    settings = {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3, "warmup_ratio": 0.0,
                "evals_per_epoch": 1, "progress_bar": False}
    runs = {}
    for share in (1.0, 0.5):
        model = SentenceTransformer(tiny_model_dir, device="cpu")
        base = weights(model)
        result = train_embedder(model, train, validation, chunks_for(train + validation),
                                ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
                                TrainingConfig(merge_with_base=share, **settings))
        assert result.metrics["merge_with_base"] == share
        runs[share] = (base, weights(result.model))
    base, tuned = runs[1.0]
    _, merged = runs[0.5]  # same seed and data: the same tuned weights, then halfway back
    moved = [name for name in base if not torch.allclose(tuned[name], base[name])]
    assert moved
    for name in moved:
        assert torch.allclose(merged[name], (base[name] + tuned[name]) / 2, atol=1e-5), name


def test_merging_an_adapter_kept_apart_is_refused():
    with pytest.raises(ValueError, match="merge_with_base"):
        TrainingConfig(lora=True, lora_save="adapter", merge_with_base=0.5)


def test_lora_merged_into_the_weights_then_mixed_with_the_base(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    base = weights(model)
    train, validation = make_pairs(24), make_pairs(4, doc_prefix="v")
    result = train_embedder(model, train, validation, chunks_for(train + validation),
                            ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
                            TrainingConfig(epochs=1, batch_size=8, mini_batch_size=4, learning_rate=1e-3,
                                           warmup_ratio=0.0, evals_per_epoch=1, lora=True, lora_r=4, lora_alpha=8,
                                           merge_with_base=0.0, progress_bar=False))
    assert set(weights(result.model)) == set(base)  # plain weights again, and all of them the base's
    assert all(torch.allclose(tensor, base[name]) for name, tensor in weights(result.model).items())
