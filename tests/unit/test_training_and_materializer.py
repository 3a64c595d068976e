import numpy as np
import pytest

from embedtune import EmbedtuneError
from embedtune.config import ModelConfig, TrainingConfig
from embedtune.training import train_embedder, training_columns

TOPICS = ["kubernetes pods", "sourdough bread", "neutron stars", "tomato plants", "index funds", "sicilian defence",
          "python packaging", "rust borrow checker"]


def make_pairs(n: int, doc_prefix: str = "d"):
    pairs = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        pairs.append({
            "id": f"{doc_prefix}{i}", "doc_id": f"{doc_prefix}{i % 4}", "query": f"what about {topic} {i}",
            "positive": f"A passage on {topic}, item {i}.", "positive_id": f"c{doc_prefix}{i}",
            "negative": f"A passage on {TOPICS[(i + 1) % len(TOPICS)]}, item {i}.",
        })
    return pairs


def chunks_for(pairs):
    return [{"chunk_id": p["positive_id"], "text": p["positive"]} for p in pairs]


def test_training_columns_fill_missing_negatives_with_other_positives():
    pairs = make_pairs(6)
    pairs[2]["negative"] = None
    columns = training_columns(pairs, use_negatives=True)
    assert list(columns) == ["anchor", "positive", "negative"]
    assert columns["negative"][2] and columns["negative"][2] != pairs[2]["positive"]
    assert "negative" not in training_columns(pairs, use_negatives=False)


def test_tiny_model_trains_selects_on_validation_and_changes_weights(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir)
    before = model.encode(["what about neutron stars"])
    train, validation = make_pairs(64), make_pairs(8, doc_prefix="v")
    result = train_embedder(
        model, train, validation, chunks_for(train + validation),
        ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
        TrainingConfig(epochs=1, batch_size=16, mini_batch_size=8, learning_rate=1e-3),
    )
    after = result.model.encode(["what about neutron stars"])
    assert not np.allclose(before, after)
    assert result.metrics["train_pairs"] == 64 and result.metrics["uses_negatives"] is True
    assert np.isfinite(result.metrics["train_loss"])
    assert 0.0 <= result.metrics["best_validation_ndcg@10"] <= 1.0


def test_matryoshka_dims_larger_than_the_model_are_rejected(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    with pytest.raises(EmbedtuneError, match="exceed the model's dimension 64"):
        train_embedder(
            SentenceTransformer(tiny_model_dir), make_pairs(8), [], [],
            ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[384, 64]), TrainingConfig(),
        )


def test_materializer_round_trip_is_a_plain_model_directory(tiny_model_dir, zenml_repository):
    import os
    import uuid

    from sentence_transformers import SentenceTransformer
    from zenml.client import Client

    from materializers import SentenceTransformerMaterializer

    model = SentenceTransformer(tiny_model_dir)
    uri = os.path.join(Client().active_stack.artifact_store.path, f"roundtrip-{uuid.uuid4().hex}")
    materializer = SentenceTransformerMaterializer(uri=uri)
    materializer.save(model)
    files = set(os.listdir(uri))
    assert "model.safetensors" in files and "modules.json" in files
    assert not any(name.endswith((".pkl", ".pickle")) for name in files)
    loaded = materializer.load(SentenceTransformer)
    text = ["round trip of an embedding model"]
    np.testing.assert_allclose(model.encode(text), loaded.encode(text), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.encode(text), SentenceTransformer(uri).encode(text), rtol=1e-5, atol=1e-6)
    assert materializer.extract_metadata(model)["embedding_dimension"] == 64
