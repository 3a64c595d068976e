"""Interrupted training and model saves: only complete checkpoints are resumed, a changed training never
resumes another's checkpoints, and a model folder is replaced in one rename or not at all."""

from __future__ import annotations

import json

import pytest

from embedtune.training.checkpoints import TRAINER_STATE, atomic_directory, latest_checkpoint, run_directory


def make_checkpoint(folder, step, complete=True):
    checkpoint = folder / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"weights")
    if complete:
        (checkpoint / TRAINER_STATE).write_text(json.dumps({"global_step": step}))
    return checkpoint


def test_the_newest_complete_checkpoint_is_resumed_and_one_cut_off_mid_write_is_dropped(tmp_path):
    make_checkpoint(tmp_path, 2)
    make_checkpoint(tmp_path, 10)
    torn = make_checkpoint(tmp_path, 12)
    (torn / TRAINER_STATE).write_text('{"global_step": 1')  # killed while writing the state
    make_checkpoint(tmp_path, 14, complete=False)  # killed before writing the state
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # numeric order, not text order
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-2"]


def test_no_checkpoint_means_a_clean_start(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    make_checkpoint(tmp_path, 4, complete=False)
    assert latest_checkpoint(tmp_path) is None


def test_a_changed_training_config_or_dataset_gets_its_own_checkpoint_folder(tmp_path):
    settings, data = {"epochs": 1, "learning_rate": 2e-5}, {"anchor": ["q1", "q2"], "positive": ["p1", "p2"]}
    first = run_directory(tmp_path, settings, data)
    assert run_directory(tmp_path, dict(settings), dict(data)) == first and first.is_dir()
    assert run_directory(tmp_path, {**settings, "epochs": 2}, data) != first
    assert run_directory(tmp_path, settings, {**data, "anchor": ["q1", "q3"]}) != first


def test_a_failed_save_leaves_the_previous_model_untouched(tmp_path):
    target = tmp_path / "tuned-model"
    with atomic_directory(target) as folder:
        (folder / "model.safetensors").write_text("v1")
    with pytest.raises(RuntimeError), atomic_directory(target) as folder:
        (folder / "model.safetensors").write_text("half of v2")
        raise RuntimeError("killed mid-save")
    assert (target / "model.safetensors").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["tuned-model"]  # no partial folder left behind


def test_a_successful_save_replaces_the_model_in_one_rename_and_cleans_leftovers(tmp_path):
    target = tmp_path / "tuned-model"
    stale = tmp_path / ".tuned-model.partial-99999"  # left by a process killed mid-save (marker written first)
    stale.mkdir()
    (stale / ".embedtune-export").write_text("{}")
    with atomic_directory(target) as folder:
        (folder / "model.safetensors").write_text("v1")
        assert not target.exists()  # nothing is visible under the final name while writing
    with atomic_directory(target) as folder:
        (folder / "model.safetensors").write_text("v2")
    assert (target / "model.safetensors").read_text() == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["tuned-model"]


def test_a_save_never_replaces_a_folder_of_other_files(tmp_path):
    from embedtune import EmbedtuneError

    target = tmp_path / "notes"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(EmbedtuneError, match="not a previous model export"), atomic_directory(target):
        pass
    assert (target / "mine.txt").read_text() == "keep"
