"""Corpus and config surprises not covered by test_ingest.py / test_config.py: a 50 MB file, deep folders,
broken links, odd files mixed with good ones, and config files that are not what they seem."""

from __future__ import annotations

import os
import time

import pytest

from embedtune import EmbedtuneError
from embedtune.config import IngestConfig, load_run_config
from embedtune.data.ingest import load_documents


def test_a_50_mb_file_is_skipped_by_size_without_being_read(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\n\nThe one useful page.", encoding="utf-8")
    with (tmp_path / "dump.txt").open("wb") as handle:  # 50 MB of real text
        handle.write(b"log line with some words\n" * (50 * 1024 * 1024 // 25))
    assert (tmp_path / "dump.txt").stat().st_size >= 50 * 1024 * 1024
    started = time.perf_counter()
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    assert time.perf_counter() - started < 5
    assert [doc["title"] for doc in result.documents] == ["Guide"]
    assert result.skipped == {"larger than ingest.max_file_mb=20": 1}
    # raising the limit reads it: the skip is the limit, not a failure
    bigger = load_documents(IngestConfig(corpus=str(tmp_path), max_file_mb=60))
    assert len(bigger.documents) == 2 and not bigger.skipped


def test_deeply_nested_folders_are_all_read_and_hidden_folders_are_not(tmp_path):
    folder = tmp_path
    for depth in range(25):
        folder = folder / f"level{depth}"
    folder.mkdir(parents=True)
    (folder / "deep.md").write_text("# Deep\n\nTwenty-five folders down.", encoding="utf-8")
    (tmp_path / "level0" / "middle.txt").write_text("Halfway text.", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("# Internal\n\nnot documentation", encoding="utf-8")
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    assert sorted(doc["title"] for doc in result.documents) == ["Deep", "middle"]
    deep = next(doc for doc in result.documents if doc["title"] == "Deep")
    assert deep["source"] == "/".join(f"level{depth}" for depth in range(25)) + "/deep.md"


def test_broken_links_and_odd_files_are_counted_and_the_rest_is_read(tmp_path):
    (tmp_path / "good.md").write_text("# Good\n\nKept.", encoding="utf-8")
    os.symlink(tmp_path / "missing.md", tmp_path / "dangling.md")  # a link to nothing
    (tmp_path / "blank.md").write_text("   \n\n\t\n", encoding="utf-8")  # only whitespace
    (tmp_path / "bom.txt").write_bytes("\ufeffText with a byte-order mark.".encode("utf-8"))
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a supported extension: not even seen
    result = load_documents(IngestConfig(corpus=str(tmp_path)))
    texts = sorted(doc["text"] for doc in result.documents)
    assert texts == ["# Good\n\nKept.", "Text with a byte-order mark."]
    assert result.skipped["unreadable"] == 1 and result.skipped["empty"] == 1
    assert result.files_seen == 4


def test_a_config_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes('parameters:\n  generation:\n    corpus_description: "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(EmbedtuneError, match=r"not UTF-8 text .*save it as UTF-8"):
        load_run_config(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("parameters: [1, 2]\n", r"\(top level\): Input should be a valid dictionary"),
        ("parameters:\n  training: 5\n", r"training: Input should be a valid dictionary"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
    ids=["parameters-list", "section-scalar", "top-level-list"],
)
def test_config_sections_of_the_wrong_shape_name_the_key(tmp_path, text, expected):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=expected):
        load_run_config(path)


def test_a_folder_given_as_config_is_a_clear_error(tmp_path):
    with pytest.raises(EmbedtuneError, match="config file not found"):
        load_run_config(tmp_path)
