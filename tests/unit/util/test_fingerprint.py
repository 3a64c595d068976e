"""File fingerprints for cache keys."""

from embedtune.util.fingerprint import files_fingerprint, paths_fingerprint


def test_paths_fingerprint_changes_with_a_file_under_a_path_and_only_then(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"1234")
    paths = [str(model), "sentence-transformers/all-MiniLM-L6-v2"]  # a hub id counts as its name
    first = paths_fingerprint(paths)
    assert paths_fingerprint(paths) == first
    (model / "weights.bin").write_bytes(b"123456")  # re-exported to the same directory
    assert paths_fingerprint(paths) != first
    assert paths_fingerprint(paths[:1]) != paths_fingerprint(paths)


def test_files_fingerprint_ignores_missing_files_and_sees_a_touch(tmp_path):
    document = tmp_path / "a.md"
    document.write_text("x")
    first = files_fingerprint([document, tmp_path / "gone.md"])
    assert first == files_fingerprint([document])
    document.write_text("xy")
    assert files_fingerprint([document]) != first
