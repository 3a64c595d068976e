"""Encode once: cached vectors equal fresh ones, the key is the weights and the prompt, the file is bounded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedtune.config import ModelConfig
from embedtune.models import encoding
from embedtune.models.embedding_cache import EmbeddingCache, cache_for, model_fingerprint, use_cache
from embedtune.models.loading import load_embedder

TEXTS = ["pods share storage", "sourdough rises overnight", "pulsars sweep radio beams", "index funds hold stocks"]


@pytest.fixture
def counted(monkeypatch):
    """Every text the model really encodes, call by call."""
    calls: list[list[str]] = []
    real = encoding.encode_raw

    def spy(model, texts, prompt="", batch_size=64):
        calls.append(list(texts))
        return real(model, texts, prompt, batch_size)

    monkeypatch.setattr(encoding, "encode_raw", spy)
    return calls


def test_a_second_request_reads_the_cache_and_equals_fresh_encoding(tmp_path, tiny_model_dir, counted):
    model = load_embedder(tiny_model_dir, device="cpu")
    fresh = encoding.encode(model, TEXTS)
    cache = EmbeddingCache(tmp_path)
    with use_cache(cache):
        first = encoding.encode(model, TEXTS[:2])
        second = encoding.encode(model, TEXTS, truncate_dim=32)
        third = encoding.encode(model, TEXTS)
    assert counted == [TEXTS, TEXTS[:2], TEXTS[2:]]  # only what was never encoded is encoded
    assert np.allclose(first, fresh[:2], atol=1e-6) and np.allclose(third, fresh, atol=1e-6)
    assert second.shape == (4, 32) and np.allclose(np.linalg.norm(second, axis=1), 1.0)
    assert (cache.hits, cache.misses) == (2 + 4, 2 + 2)


def test_the_key_is_what_the_model_computes_and_the_prompt(tmp_path, tiny_model_dir, counted):
    model = load_embedder(tiny_model_dir, device="cpu")
    before = model_fingerprint(model)
    assert model_fingerprint(load_embedder(tiny_model_dir, device="cpu")) == before  # same weights, same key
    with use_cache(EmbeddingCache(tmp_path)):
        encoding.encode(model, TEXTS)
        encoding.encode(model, TEXTS, prompt="query: ")  # another prompt: encoded again
        with torch.no_grad():
            next(model.parameters()).add_(0.01)  # trained in place
        assert model_fingerprint(model) != before
        encoding.encode(model, TEXTS)  # new weights: encoded again
        model.max_seq_length = 16
        encoding.encode(model, TEXTS)  # a shorter window computes other vectors
    assert len(counted) == 4


def test_the_file_stays_under_its_bound_dropping_the_least_recently_used(tmp_path, tiny_model_dir):
    model = load_embedder(tiny_model_dir, device="cpu")
    cache = EmbeddingCache(tmp_path, max_gb=40_000 / 2**30)  # room for about 100 vectors of 64 floats
    with use_cache(cache):
        encoding.encode(model, [f"old text {i}" for i in range(100)])
        encoding.encode(model, [f"new text {i}" for i in range(100)])
    assert cache.size_bytes() <= 40_000
    cache.hits = cache.misses = 0
    with use_cache(cache):
        encoding.encode(model, ["new text 99", "old text 0"])
    assert (cache.hits, cache.misses) == (1, 1)  # the newest kept, the oldest dropped


def test_the_config_and_the_environment_choose_or_turn_off_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDTUNE_EMBEDDING_CACHE", str(tmp_path / "env"))
    assert cache_for(ModelConfig()).directory == tmp_path / "env"
    assert cache_for(ModelConfig(embedding_cache_dir=str(tmp_path / "cfg"))).directory == tmp_path / "cfg"
    assert cache_for(ModelConfig(embedding_cache=False)) is None
    monkeypatch.setenv("EMBEDTUNE_EMBEDDING_CACHE", "off")
    assert cache_for(ModelConfig()) is None


def test_an_unusable_cache_folder_means_encoding_without_it(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level("WARNING", logger="embedtune"):
        assert cache_for(ModelConfig(embedding_cache_dir=str(blocker / "sub"))) is None
    assert "encoding without it" in caplog.text
