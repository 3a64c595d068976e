"""A corpus behind an fsspec URI is read like a local folder, inside the step only; failures are one clear line.

fsspec's in-memory filesystem (`memory://`) stands in for a bucket here; tests/services/test_s3.py reads a real
S3-compatible server."""

from __future__ import annotations

import fsspec
import pytest

from embedtune import EmbedtuneError
from embedtune.config import IngestConfig
from embedtune.data import ingest
from embedtune.util import remote

SECRET = "planted-Secret-7c1d9e"


@pytest.fixture
def bucket(monkeypatch):
    """memory://team/docs with documents, a hidden folder, an excluded folder, an oversized and an empty file."""
    monkeypatch.setattr(remote, "_stack_filesystem", lambda uri: None)  # no ZenML stack in unit tests
    fs = fsspec.filesystem("memory")
    files = {
        "a.md": b"---\nx: 1\n---\n# Alpha guide\n\nPods run containers on nodes.",
        "sub/b.txt": b"Sourdough rises because of wild yeast.",
        "sub/c.jsonl": b'{"text": "row one", "_id": "r1"}\n{"text": 5}\n',
        ".hidden/x.md": b"# hidden",
        "drafts/d.md": b"# draft",
        "e.bin": b"\x00\x01",
        "empty.md": b"",
        "big.md": b"x" * 3000,
    }
    for name, data in files.items():
        fs.pipe(f"/team/docs/{name}", data)
    yield "memory://team/docs"
    fs.rm("/team", recursive=True)


def test_a_remote_prefix_is_read_with_the_local_rules(bucket):
    config = IngestConfig(corpus=bucket, exclude=["drafts/*"], max_file_mb=0.002)
    result = ingest.load_documents(config)
    by_source = {row["source"]: row for row in result.documents}
    assert set(by_source) == {"a.md", "sub/b.txt", "sub/c.jsonl#r1"}
    assert by_source["a.md"]["title"] == "Alpha guide" and "x: 1" not in by_source["a.md"]["text"]
    assert by_source["sub/b.txt"]["title"] == "b"
    assert result.skipped["empty"] == 1 and result.skipped["larger than ingest.max_file_mb=0.002"] == 1
    assert result.skipped["JSONL row whose 'text' is not a string"] == 1
    assert result.files_seen == 5  # hidden, excluded and other extensions are never opened


def test_one_remote_file_is_a_corpus_too(bucket):
    result = ingest.load_documents(IngestConfig(corpus=f"{bucket}/sub/b.txt"))
    assert [row["source"] for row in result.documents] == ["b.txt"]


def test_nothing_is_read_on_the_submitting_machine(bucket, monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("read the remote corpus outside the step")

    monkeypatch.setattr(remote, "filesystem", no_reading)
    config = IngestConfig(corpus=bucket)
    ingest.check_corpus(config)
    assert ingest.corpus_fingerprint(config) == bucket


def test_a_missing_prefix_is_one_line_naming_it(bucket):
    with pytest.raises(EmbedtuneError, match=r"cannot list memory://team/nothing-here: not found"):
        ingest.load_documents(IngestConfig(corpus="memory://team/nothing-here"))


def test_remote_errors_name_the_fix_and_never_a_credential(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    denied = remote.remote_error("s3://b/docs", PermissionError(f"signature for {SECRET} does not match"))
    assert "access denied" in str(denied) and "AWS_SECRET_ACCESS_KEY" in str(denied) and SECRET not in str(denied)
    missing = remote.remote_error("s3://b/docs", ImportError("No module named 's3fs'"), "open")
    assert "pip install -e '.[s3]'" in str(missing)
    other = remote.remote_error("s3://user:pw@b/docs", OSError("connection refused"))
    assert "AWS_ENDPOINT_URL" in str(other) and "pw" not in str(other) and "\n" not in str(other)


def test_uris_are_told_from_paths_and_dataset_names():
    assert remote.is_remote("s3://b/k") and remote.is_remote("GS://b") and remote.is_remote("hf://datasets/x")
    assert not remote.is_remote("docs") and not remote.is_remote("hf:squad") and not remote.is_remote("file:///x")
    assert not remote.is_remote("C:\\docs") and not remote.is_remote(None)
    assert [remote.extra_for(u) for u in ("s3://b", "gs://b", "abfs://c", "hf://x", "docs")] == [
        "s3", "gcs", "azure", None, None]


def test_a_model_folder_is_downloaded_once_and_a_non_model_refused(bucket):
    fs = fsspec.filesystem("memory")
    fs.pipe("/team/models/tuned/modules.json", b"[]")
    fs.pipe("/team/models/tuned/1_Pooling/config.json", b"{}")
    local = remote.download_directory("memory://team/models/tuned")
    assert remote.download_directory("memory://team/models/tuned/") == local
    with open(f"{local}/1_Pooling/config.json") as handle:
        assert handle.read() == "{}"
    with pytest.raises(EmbedtuneError, match="not a model folder"):
        remote.download_directory(bucket)
    with pytest.raises(EmbedtuneError, match="cannot download memory://team/models/none: not found"):
        remote.download_directory("memory://team/models/none")


def test_resolve_model_takes_a_model_folder_in_a_bucket(bucket):
    from embedtune.models.paths import resolve_model

    fs = fsspec.filesystem("memory")
    fs.pipe("/team/models/resolved/modules.json", b"[]")
    local = resolve_model("memory://team/models/resolved")
    assert local == remote.download_directory("memory://team/models/resolved")
    with open(f"{local}/modules.json") as handle:
        assert handle.read() == "[]"
