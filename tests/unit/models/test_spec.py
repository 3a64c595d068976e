"""ModelSpec: prompts decided once (explicit > catalog > shipped), dims from the card."""

from __future__ import annotations

import json
import shutil

from embedtune.config import ModelConfig
from embedtune.models.spec import resolve_spec, spec_for


def test_explicit_config_prompts_win_over_the_catalog():
    filled = spec_for(ModelConfig(base_model="nomic-ai/modernbert-embed-base"))
    assert (filled.query_prompt, filled.document_prompt) == ("search_query: ", "search_document: ")
    explicit = spec_for(ModelConfig(base_model="nomic-ai/modernbert-embed-base", query_prompt="q: "))
    assert (explicit.query_prompt, explicit.document_prompt) == ("q: ", "")  # either one set replaces both
    assert spec_for(ModelConfig()).prompts == {}  # MiniLM needs none


def test_a_tuned_models_shipped_prompts_and_matryoshka_dims_are_read(tmp_path, tiny_model_dir):
    folder = tmp_path / "tuned"
    shutil.copytree(tiny_model_dir, folder)
    config_file = folder / "config_sentence_transformers.json"
    settings = json.loads(config_file.read_text())
    settings["prompts"] = {"query": "search_query: ", "document": "search_document: "}
    config_file.write_text(json.dumps(settings))
    (folder / "README.md").write_text('loss: MatryoshkaLoss\n```json\n{"matryoshka_dims": [\n 64,\n 32,\n 16\n]}\n```')
    spec = resolve_spec(str(folder))
    assert (spec.query_prompt, spec.document_prompt) == ("search_query: ", "search_document: ")
    assert spec.matryoshka_dims == (64, 32, 16) and spec.path == str(folder) and spec.license == "unknown"
    assert resolve_spec(tiny_model_dir).matryoshka_dims == ()


def test_the_catalog_gives_license_dims_and_kind():
    minilm = resolve_spec("all-MiniLM-L6-v2")
    assert minilm.kind == "local" and minilm.license == "Apache-2.0" and minilm.dim == 384 and minilm.path
    api = resolve_spec("openai:text-embedding-3-small")
    assert api.kind == "api" and api.path is None and 512 in api.matryoshka_dims
    assert resolve_spec("nvidia/NV-Embed-v2").commercial_use is False
