"""Loading: the spec's prompts on the model, fp32 master weights."""

from __future__ import annotations

import torch

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
