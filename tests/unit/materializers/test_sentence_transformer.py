"""The SentenceTransformer materializer stores a plain model directory."""

import numpy as np


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
    with open(os.path.join(uri, "README.md"), encoding="utf-8") as handle:  # embedtune's card, not the automatic one
        card = handle.read()
    assert "library_name: sentence-transformers" in card and "Not evaluated yet." in card
    assert "sentence_transformers_model_id" not in card and "Unnamed Dataset" not in card
    loaded = materializer.load(SentenceTransformer)
    text = ["round trip of an embedding model"]
    np.testing.assert_allclose(model.encode(text), loaded.encode(text), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.encode(text), SentenceTransformer(uri).encode(text), rtol=1e-5, atol=1e-6)
    assert materializer.extract_metadata(model)["embedding_dimension"] == 64
