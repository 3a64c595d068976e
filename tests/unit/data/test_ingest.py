"""Ingestion: every format, skipped files counted, clear errors, seeded sampling, fingerprints."""

import json
import os

import pytest

from embedtune import EmbedtuneError
from embedtune.config import IngestConfig
from embedtune.data.ingest import corpus_fingerprint, document_id, load_documents


def make_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF drawing `text`, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def load(folder, **overrides):
    return load_documents(IngestConfig(corpus=str(folder), **overrides))


def test_reads_markdown_html_text_jsonl_and_pdf(tmp_path):
    (tmp_path / "guide.md").write_text("---\ntitle: x\n---\n# Caching\n\nSteps <b>are</b> cached.", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<html><head><title>Stacks</title><script>var x=1;</script></head><body><p>A stack has an orchestrator.</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "notes.txt").write_text("Plain text notes about artifact stores.", encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"_id": "a1", "title": "Models", "text": "Model versions group artifacts."}) + "\n" + "not json\n",
        encoding="utf-8",
    )
    (tmp_path / "paper.pdf").write_bytes(make_pdf("Pipelines cache steps"))
    result = load(tmp_path)
    by_title = {doc["title"]: doc for doc in result.documents}
    assert by_title["Caching"]["text"].startswith("# Caching")
    assert "<b>" not in by_title["Caching"]["text"] and "title: x" not in by_title["Caching"]["text"]
    assert by_title["Stacks"]["text"] == "A stack has an orchestrator."
    assert by_title["Models"]["source"].endswith("rows.jsonl#a1")
    assert "Pipelines cache steps" in by_title["paper"]["text"]
    assert any("artifact stores" in doc["text"] for doc in result.documents)
    assert result.files_seen == 5


def test_binary_empty_and_duplicate_files_are_skipped_and_counted(tmp_path):
    (tmp_path / "good.md").write_text("# Good\n\nUseful text.", encoding="utf-8")
    (tmp_path / "copy.md").write_text("# Good\n\nUseful text.", encoding="utf-8")
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" + os.urandom(256))
    (tmp_path / "empty.txt").write_bytes(b"")
    result = load(tmp_path)
    assert len(result.documents) == 1
    assert result.skipped == {"binary": 1, "empty": 1, "duplicate": 1}


def test_non_utf8_text_is_read_as_latin1(tmp_path):
    (tmp_path / "legacy.txt").write_bytes("Caf\xe9 cr\xe8me recipes".encode("latin-1"))
    assert load(tmp_path).documents[0]["text"] == "Café crème recipes"


def test_oversized_file_is_skipped(tmp_path):
    (tmp_path / "small.txt").write_text("small enough", encoding="utf-8")
    (tmp_path / "big.txt").write_text("x " * 600_000, encoding="utf-8")
    result = load(tmp_path, max_file_mb=1)
    assert [doc["text"] for doc in result.documents] == ["small enough"]
    assert sum(result.skipped.values()) == 1


def test_nested_folders_and_symlink_loops_terminate(tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "deep.md").write_text("# Deep\n\nNested document.", encoding="utf-8")
    os.symlink(tmp_path, nested / "loop")
    result = load(tmp_path)
    assert [doc["title"] for doc in result.documents] == ["Deep"]


def test_empty_folder_fails_with_a_clear_message(tmp_path):
    with pytest.raises(EmbedtuneError, match="no usable documents"):
        load(tmp_path)


def test_missing_folder_fails_with_a_clear_message(tmp_path):
    with pytest.raises(EmbedtuneError, match="corpus not found"):
        load(tmp_path / "nope")


def test_only_unusable_files_fail_and_say_why(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(EmbedtuneError, match="1 binary"):
        load(tmp_path)


def test_sampling_is_seeded(tmp_path):
    for i in range(10):
        (tmp_path / f"d{i}.txt").write_text(f"document number {i}", encoding="utf-8")
    first = [d["doc_id"] for d in load(tmp_path, sample_documents=4).documents]
    again = [d["doc_id"] for d in load(tmp_path, sample_documents=4).documents]
    assert len(first) == 4 and first == again


def test_document_ids_are_stable_and_content_addressed():
    assert document_id("a.md", "text") == document_id("a.md", "text")
    assert document_id("a.md", "text") != document_id("a.md", "text!")


def test_fingerprint_changes_when_a_document_changes(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("one", encoding="utf-8")
    before = corpus_fingerprint(IngestConfig(corpus=str(tmp_path)))
    assert before == corpus_fingerprint(IngestConfig(corpus=str(tmp_path)))
    doc.write_text("one and more", encoding="utf-8")
    assert corpus_fingerprint(IngestConfig(corpus=str(tmp_path))) != before


def test_exclude_patterns_skip_matching_files(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\n\nKept.", encoding="utf-8")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "pairs.md").write_text("# Pairs\n\nExcluded.", encoding="utf-8")
    assert [d["title"] for d in load(tmp_path).documents] == ["Guide", "Pairs"]
    assert [d["title"] for d in load(tmp_path, exclude=["examples/*"]).documents] == ["Guide"]
