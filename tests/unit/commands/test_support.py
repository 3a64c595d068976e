"""What run.py does after a pipeline: the export copies the model artifact into a checked folder without
leaving anything in /tmp, and reports go to a folder per run with `latest` pointing at the newest."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from commands import support
from embedtune import EmbedtuneError
from embedtune.util.io import EXPORT_MARKER


@pytest.fixture
def model_artifact(tiny_model_dir, zenml_repository):
    """A real `tuned_model`-like artifact version in the session's local store."""
    from sentence_transformers import SentenceTransformer
    from zenml import save_artifact

    import materializers  # noqa: F401 - registers the SentenceTransformer materializer

    return save_artifact(SentenceTransformer(tiny_model_dir), name="export_test_model")


def _temp_entries() -> set[str]:
    return {path.name for path in Path(tempfile.gettempdir()).iterdir()}


def test_exporting_copies_the_artifact_and_leaves_nothing_in_tmp(model_artifact, tiny_model_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    before = _temp_entries()
    exported = support.export_model(model_artifact, str(tmp_path / "out" / "model"), "run-1")
    assert _temp_entries() - before == set()
    assert (exported / EXPORT_MARKER).is_file() and "run-1" in (exported / EXPORT_MARKER).read_text("utf-8")
    text = ["an exported model encodes as the artifact does"]
    np.testing.assert_allclose(
        SentenceTransformer(str(exported)).encode(text), SentenceTransformer(tiny_model_dir).encode(text),
        rtol=1e-5, atol=1e-6,
    )
    support.export_model(model_artifact, str(exported), "run-2")  # a previous export is replaced
    assert "run-2" in (exported / EXPORT_MARKER).read_text("utf-8")


def test_exporting_over_a_users_folder_refuses_and_deletes_nothing(model_artifact, tmp_path):
    target = tmp_path / "d"
    (target / "sub").mkdir(parents=True)
    (target / "notes.txt").write_text("notes", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match="already holds other files"):
        support.export_model(model_artifact, str(target), "run-1")
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "sub"]


def test_reports_of_two_runs_live_side_by_side_and_latest_is_the_newest(tmp_path):
    from tests.unit.reporting.test_charts import a_report

    first_html, first_json = support.write_run_reports({**a_report(), "n_queries": 1}, "run-a", tmp_path)
    second_html, _ = support.write_run_reports({**a_report(), "n_queries": 2}, "run-b", tmp_path)
    assert first_json == tmp_path / "run-a" / "evaluation_report.json" and first_json.is_file()
    assert first_html.is_file() and second_html.is_file() and first_html != second_html
    assert '"n_queries": 2' in (tmp_path / "latest" / "evaluation_report.json").read_text(encoding="utf-8")


def test_a_run_config_with_chunks_longer_than_the_model_reads_is_fitted_before_any_work(tiny_model_dir, tmp_path,
                                                                                          caplog):
    import logging

    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"parameters": {
        "chunking": {"chunk_tokens": 5000, "overlap_tokens": 32},
        "model": {"base_model": tiny_model_dir, "matryoshka_dims": [64, 32], "max_seq_length": 512},
    }}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="embedtune"):
        config, _ = support.prepare(str(path), None, needs_corpus=False)
    assert config.chunking.chunk_tokens == 126  # the tiny model reads 128 tokens (its own limit wins)
    assert "chunking.chunk_tokens=5000" in caplog.text and "reads (128 tokens)" in caplog.text


def test_the_estimate_reads_the_answer_store_only_when_there_is_one(tmp_path, monkeypatch):
    """No store: no generator is built (a first run must not assemble the GGUF for an estimate)."""
    import embedtune.generation
    from embedtune.config import parse_parameters
    from embedtune.generation.journal import ANSWERS_FILE

    built = []

    class Stub:
        def stored_share(self, chunks, queries_per_chunk):
            return 0.25 * len(chunks) / 4

    monkeypatch.setattr(embedtune.generation, "make_generator", lambda config: built.append(config) or Stub())
    config = parse_parameters({"generation": {"backend": "llamacpp", "cache_dir": str(tmp_path)}})
    chunks = [{"chunk_id": f"c{i}", "title": "", "text": f"text {i}"} for i in range(4)]
    assert support._answered_share(config, chunks) == 0.0 and not built
    (tmp_path / ANSWERS_FILE).write_text("")
    assert support._answered_share(config, chunks) == 0.25 and len(built) == 1
    off = parse_parameters({"generation": {"backend": "llamacpp", "cache_dir": str(tmp_path), "reuse_answers": False}})
    assert support._answered_share(off, chunks) == 0.0 and len(built) == 1
