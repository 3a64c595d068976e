"""The export folder is checked before any work and replaced safely: a user's folder is never emptied,
a previous export is swapped in one rename; per-run report folders with `latest` on the newest."""

from __future__ import annotations

import os
import stat

import pytest

from embedtune import EmbedtuneError
from embedtune.util.io import EXPORT_MARKER, check_export_dir, export_directory, point_latest, run_output_dir


def _export(target, content: str = "weights") -> None:
    with export_directory(target, note={"run": "r1"}) as folder:
        (folder / "modules.json").write_text("[]", encoding="utf-8")
        (folder / "model.safetensors").write_text(content, encoding="utf-8")


def test_a_folder_holding_a_users_files_is_refused_and_left_untouched(tmp_path):
    target = tmp_path / "d"
    (target / "sub").mkdir(parents=True)
    (target / "notes.txt").write_text("notes", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"already holds other files \(notes.txt, sub\).*choose a new or empty"):
        check_export_dir(target)
    with pytest.raises(EmbedtuneError, match="already holds other files"):
        _export(target)
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "sub"]
    assert (target / "notes.txt").read_text(encoding="utf-8") == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no partial folder left behind


def test_a_model_folder_with_a_stray_user_file_is_not_a_previous_export(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    for name in ("modules.json", "model.safetensors", "my-notes.txt"):
        (target / name).write_text("x", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match="my-notes.txt"):
        check_export_dir(target)


def test_a_new_or_empty_folder_is_written_and_a_previous_export_is_replaced(tmp_path):
    target = tmp_path / "new" / "model"
    _export(target, "v1")
    assert (target / "model.safetensors").read_text(encoding="utf-8") == "v1"
    assert (target / EXPORT_MARKER).is_file()
    _export(target, "v2")
    assert (target / "model.safetensors").read_text(encoding="utf-8") == "v2"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]  # no .previous / .partial left
    empty = tmp_path / "empty"
    empty.mkdir()
    _export(empty)
    assert (empty / "modules.json").is_file()


def test_an_export_from_before_the_marker_is_recognised_by_its_files_only(tmp_path):
    legacy = tmp_path / "legacy"
    (legacy / "1_Pooling").mkdir(parents=True)
    for name in ("modules.json", "config.json", "model.safetensors", "tokenizer.json", "README.md"):
        (legacy / name).write_text("x", encoding="utf-8")
    assert check_export_dir(legacy) == legacy.resolve()
    _export(legacy, "new")
    assert not (legacy / "1_Pooling").exists() and (legacy / "model.safetensors").read_text(encoding="utf-8") == "new"


def test_a_failed_export_leaves_the_previous_one_and_no_partial_folder(tmp_path):
    target = tmp_path / "model"
    _export(target, "v1")
    with pytest.raises(RuntimeError), export_directory(target) as folder:
        (folder / "model.safetensors").write_text("half", encoding="utf-8")
        raise RuntimeError("killed")
    assert (target / "model.safetensors").read_text(encoding="utf-8") == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_only_leftovers_this_module_made_are_removed(tmp_path):
    target = tmp_path / "model"
    ours = tmp_path / ".model.partial-999999"
    ours.mkdir()
    (ours / EXPORT_MARKER).write_text("{}", encoding="utf-8")
    theirs = tmp_path / ".model.previous-1"  # same pattern, but not made here: kept
    theirs.mkdir()
    (theirs / "diary.txt").write_text("mine", encoding="utf-8")
    _export(target)
    assert not ours.exists() and (theirs / "diary.txt").is_file()


def test_a_file_or_a_path_under_a_file_is_a_clear_error(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match="is a file, not a folder"):
        check_export_dir(afile)
    with pytest.raises(EmbedtuneError, match="is a file, so no folder can be made under it"):
        check_export_dir(afile / "model")
    assert afile.read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_parent_is_refused_before_any_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(EmbedtuneError, match="cannot write in folder .*choose a folder you can write to"):
            check_export_dir(locked / "deeper" / "model")
    finally:
        locked.chmod(stat.S_IRWXU)


def test_each_run_gets_its_own_report_folder_and_latest_points_at_the_newest(tmp_path):
    first = run_output_dir(tmp_path, "embedtune_end_to_end-2026_01_01-10_00_00")
    (first / "evaluation_report.json").write_text("1", encoding="utf-8")
    point_latest(tmp_path, first)
    second = run_output_dir(tmp_path, "../evil/run")  # a run name never escapes the root
    assert second.parent == tmp_path and second.name == "_evil_run"
    (second / "evaluation_report.json").write_text("2", encoding="utf-8")
    point_latest(tmp_path, second)
    assert (tmp_path / "latest" / "evaluation_report.json").read_text(encoding="utf-8") == "2"
    assert (first / "evaluation_report.json").read_text(encoding="utf-8") == "1"
    assert run_output_dir(tmp_path, "latest").name == "run-latest"


def test_a_users_own_latest_folder_is_never_replaced(tmp_path):
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "keep.txt").write_text("x", encoding="utf-8")
    point_latest(tmp_path, run_output_dir(tmp_path, "run-1"))
    assert (tmp_path / "latest" / "keep.txt").is_file()


def test_a_folder_that_refuses_writes_is_refused_with_the_reason(tmp_path, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)  # as on a read-only mount or a chattr +i folder
    with pytest.raises(EmbedtuneError, match=r"cannot write in folder .* \(Read-only file system\)"):
        check_export_dir(tmp_path / "model")
