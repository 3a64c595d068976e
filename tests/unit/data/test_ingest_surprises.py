"""Ingestion surprises from the second reliability round: a file name that is not UTF-8, JSONL rows whose
text is not a string, a JSONL with one NUL line, and folders deeper than the path limit. Each costs only
the bad part, and every bad part is counted."""

from __future__ import annotations

import json
import os

import pandas as pd

from embedtune.config import IngestConfig
from embedtune.data.ingest import check_corpus, display_name, load_documents


def test_a_file_name_that_is_not_utf8_is_read_with_the_good_files(tmp_path):
    for index in range(3):
        (tmp_path / f"good{index}.md").write_text(f"# Good {index}\n\nA page about topic {index}.", encoding="utf-8")
    with open(os.fsencode(tmp_path) + b"/caf\xe9.txt", "wb") as handle:  # Latin-1 bytes in the name
        handle.write(b"Coffee is served at nine.")
    check_corpus(IngestConfig(corpus=str(tmp_path)))
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    assert len(result.documents) == 4 and not result.skipped
    cafe = next(doc for doc in result.documents if doc["text"] == "Coffee is served at nine.")
    assert cafe["source"] == "caf\\xe9.txt" and cafe["title"] == "caf\\xe9"
    for doc in result.documents:  # every field is valid UTF-8: it can be hashed, stored and shown
        for value in doc.values():
            value.encode("utf-8")
    pd.DataFrame(result.documents).to_parquet(tmp_path.parent / "documents.parquet")


def test_jsonl_rows_whose_text_is_not_a_string_are_counted_not_read(tmp_path):
    rows = [{"id": 1, "text": "A real document."}, {"id": 2, "text": 42}, {"id": 3, "text": {"nested": "x"}},
            {"id": 4, "text": ["a", "list"]}, {"id": 5, "text": "Another real one."}]
    lines = [json.dumps(row) for row in rows] + ["{not json", "[1, 2]", json.dumps({"id": 8, "text": "\ud800 lone"})]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    assert sorted(doc["text"] for doc in result.documents) == ["? lone", "A real document.", "Another real one."]
    assert result.skipped == {"JSONL row whose 'text' is not a string": 3, "JSONL row that is not JSON": 1,
                              "JSONL row that is not an object": 1}


def test_a_jsonl_with_one_nul_line_loses_only_that_line(tmp_path):
    good = [json.dumps({"id": n, "text": f"Document number {n} is fine."}) for n in range(5)]
    data = "\n".join(good[:2]).encode() + b"\n{\"id\": 9, \"text\": \"bro\x00ken\"}\n" + "\n".join(good[2:]).encode()
    (tmp_path / "rows.jsonl").write_bytes(data)
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    assert len(result.documents) == 5 and result.skipped == {"JSONL row with NUL bytes": 1}
    (tmp_path / "rows.jsonl").write_bytes(b"\x00\x01\x02" * 4000)  # a real binary file stays skipped whole
    (tmp_path / "keep.md").write_text("# Keep\n\nkept", encoding="utf-8")
    assert load_documents(IngestConfig(corpus=str(tmp_path))).skipped == {"binary": 1}


def test_folders_deeper_than_the_path_limit_are_counted(tmp_path):
    (tmp_path / "top.md").write_text("# Top\n\nAt the top.", encoding="utf-8")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 characters: past Linux's 4096-byte PATH_MAX
            name = "d" * 250
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        handle = os.open("deep.md", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, b"# Deep\n\nToo deep to reach.")
        os.close(handle)
    finally:
        os.close(fd)
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    assert [doc["title"] for doc in result.documents] == ["Top"]
    assert result.skipped.get("unreadable folder", 0) >= 1


def test_display_name_escapes_undecodable_bytes_and_keeps_text():
    assert display_name("caf\udce9.md") == "caf\\xe9.md"
    assert display_name("café.md") == "café.md"
    assert display_name("\ud800x") == "?x"
