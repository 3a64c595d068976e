"""Few-shot example queries: read from text or JSONL, first 8 distinct, clear errors."""

from __future__ import annotations

import json

import pytest

from embedtune import EmbedtuneError
from embedtune.generation.examples import MAX_EXAMPLES, load_example_queries, read_queries


def test_text_file_one_query_per_line_skips_blanks_comments_and_duplicates(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("# searches from the logs\nhow to  rotate keys\n\nhow to rotate keys\nretry policy\n")
    assert load_example_queries(path) == ["how to rotate keys", "retry policy"]


def test_beir_queries_jsonl_and_the_limit(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(json.dumps({"_id": str(i), "text": f"claim number {i}"}) for i in range(20)))
    queries = load_example_queries(path)
    assert len(queries) == MAX_EXAMPLES == 8 and queries[0] == "claim number 0"
    assert load_example_queries(None) == []


@pytest.mark.parametrize("content", ["", "# only a comment\n", '{"other": 1}\n'])
def test_a_file_without_queries_is_a_clear_error(tmp_path, content):
    path = tmp_path / "q.txt"
    path.write_text(content)
    with pytest.raises(EmbedtuneError, match="holds no query"):
        load_example_queries(path)


def test_missing_or_broken_files_name_the_setting(tmp_path):
    with pytest.raises(EmbedtuneError, match="generation.example_queries: cannot read"):
        load_example_queries(tmp_path / "nope.txt")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(EmbedtuneError, match="bad.jsonl:1 is not valid JSON"):
        load_example_queries(tmp_path / "bad.jsonl")


def test_read_queries_reads_them_all_and_names_its_setting(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("\n".join(f"query {i % 30}" for i in range(40)))
    assert read_queries(path) == [f"query {i}" for i in range(30)]  # no limit, duplicates once
    with pytest.raises(EmbedtuneError, match="teacher.real_queries: cannot read"):
        read_queries(tmp_path / "nope.txt", setting="teacher.real_queries")
