"""A BEIR folder is checked before any model loads: text that is not UTF-8 and scores that are not whole
numbers are one clear error; judgements of unknown ids are counted and reported in one warning."""

from __future__ import annotations

import json
import logging

import pytest

from embedtune import EmbedtuneError
from embedtune.data.beir import check_beir


def write_beir(folder, qrels: str, corpus: bytes | None = None):
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "text": "pods share storage"}, {"_id": "d2", "text": "sourdough rises"}]
    (folder / "corpus.jsonl").write_bytes(corpus or "\n".join(json.dumps(d) for d in docs).encode())
    queries = [{"_id": "q1", "text": "pod storage"}, {"_id": "q2", "text": "bread"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels, encoding="utf-8")
    return folder


def test_unknown_ids_in_qrels_are_counted_and_warned(tmp_path, caplog):
    write_beir(tmp_path, "q1\td1\t1\nq2\td2\t1\nq9\td1\t1\nq2\td9\t1\nq1\td2\t0\n")
    with caplog.at_level(logging.WARNING, logger="embedtune"):
        counts = check_beir(tmp_path, "test")
    assert counts == {"judgements": 4, "unknown_query": 1, "unknown_document": 1, "queries": 2}
    assert "2 of 4 judgements are ignored: 1 name a query missing" in caplog.text and "scoring 2 queries" in caplog.text


def test_a_score_written_as_a_decimal_is_one_clear_error_naming_the_line(tmp_path):
    write_beir(tmp_path, "q1\td1\t1\nq2\td2\t1.0\n")
    with pytest.raises(EmbedtuneError, match=r"test.tsv:3: score '1.0' is not a whole number"):
        check_beir(tmp_path, "test")


def test_a_corpus_that_is_not_utf8_is_one_clear_error(tmp_path):
    write_beir(tmp_path, "q1\td1\t1\n", corpus='{"_id": "d1", "text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(EmbedtuneError, match=r"corpus.jsonl:1 is not UTF-8 text \(byte 0xe9\); save the file as UTF-8"):
        check_beir(tmp_path, "test")


def test_a_missing_file_names_the_folder(tmp_path):
    with pytest.raises(EmbedtuneError, match="is not a BEIR folder for split 'test': missing"):
        check_beir(tmp_path, "test")
