"""Gold collection as plain data: reading real queries, the model-blind pool, the record, and votes -> gold rows."""

from __future__ import annotations

import json

import pytest

from embedtune import EmbedtuneError
from embedtune.curation.gold import gold_record, judgments, pool_candidates, read_queries, span_of
from embedtune.evaluation.gold import map_gold, query_id


def test_queries_from_text_lines_and_jsonl_with_ids_and_duplicates_dropped(tmp_path):
    text = tmp_path / "log.txt"
    text.write_text("# exported from search logs\nhow do I  resume training\n\nhow do I  resume training\nexport model\n")
    assert read_queries(text) == [(query_id("how do I resume training"), "how do I resume training"),
                                  (query_id("export model"), "export model")]
    lines = tmp_path / "log.jsonl"
    lines.write_text(json.dumps({"id": 7, "query": "a"}) + "\n" + json.dumps({"text": "b"}) + "\n")
    assert read_queries(lines) == [("7", "a"), (query_id("b"), "b")]
    lines.write_text('{"id": 1}\n')
    with pytest.raises(EmbedtuneError, match=r"log.jsonl:1 has no 'query' or 'text'"):
        read_queries(lines)
    lines.write_text("[1, 2]\n")
    with pytest.raises(EmbedtuneError, match=r"log.jsonl:1 is not a JSON object"):
        read_queries(lines)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(EmbedtuneError, match="holds no queries"):
        read_queries(tmp_path / "empty.txt")
    with pytest.raises(EmbedtuneError, match="queries file not found"):
        read_queries(tmp_path / "missing.txt")


def test_the_pool_is_the_union_of_each_models_top_k_in_an_order_that_hides_the_model():
    rankings = {"base": [["a", "b", "c"], ["x", "y"]], "tuned": [["c", "d", "a"], ["y", "z"]]}
    pooled = pool_candidates(rankings, ["q1", "q2"], k=2)
    assert set(pooled["q1"]) == {"a", "b", "c", "d"} and set(pooled["q2"]) == {"x", "y", "z"}
    swapped = pool_candidates({"tuned": rankings["base"], "base": rankings["tuned"]}, ["q1", "q2"], k=2)
    assert swapped == pooled, "the order depends on query and chunk, not on which model found it"


def test_a_record_numbers_the_passages_and_carries_their_ids_documents_and_spans():
    chunks = [{"chunk_id": "c1", "source": "a.md", "text": "one two three"},
              {"chunk_id": "c2", "source": "b.md", "text": " ".join(f"w{i}" for i in range(40))}]
    record = gold_record("q1", "where is it", chunks)
    assert record["id"] == "q1" and record["fields"]["query"] == "where is it"
    assert "**[1]** `a.md`\n\none two three" in record["fields"]["passages"] and "**[2]** `b.md`" in record["fields"]["passages"]
    assert record["metadata"]["candidates"] == ["1|c1|a.md|one two three", f"2|c2|b.md|{span_of(chunks[1]['text'])}"]
    assert span_of(chunks[1]["text"]) == " ".join(f"w{i}" for i in range(14, 26)), "the middle of the chunk"


def test_a_passage_is_relevant_when_most_submitted_responses_mark_it():
    table = ["1|c1|a.md|span one", "2|c2|b.md|span two", "3|c3|c.md|span | with a bar"]
    responses = [
        {"status": "submitted", "values": {"relevant_passages": ["1", "3"]}},
        {"status": "submitted", "values": {"relevant_passages": ["1"]}},
        {"status": "submitted", "values": {"relevant_passages": ["2", "3"]}},
        {"status": "discarded", "values": {}},
        {"status": "draft", "values": {"relevant_passages": ["2"]}},
    ]
    rows, outcome = judgments("q", "query", table, responses)
    assert outcome == "judged"
    assert [(r["chunk"], r["doc"], r["span"], r["grade"]) for r in rows] == [
        ("c1", "a.md", "span one", 1), ("c3", "c.md", "span | with a bar", 1)
    ]
    tie = [{"status": "submitted", "values": {"relevant_passages": ["1"]}},
           {"status": "submitted", "values": {"relevant_passages": ["2"]}}]
    assert judgments("q", "query", table, tie) == ([], "none_relevant"), "1 of 2 is a tie: not relevant"
    assert judgments("q", "query", table, [{"status": "submitted", "values": {}}]) == ([], "none_relevant")
    none = [{"status": "submitted", "values": {"relevant_passages": ["none"]}}]
    assert judgments("q", "query", table, none) == ([], "none_relevant")
    assert judgments("q", "query", table, [{"status": "discarded", "values": {}}]) == ([], "discarded")
    assert judgments("q", "query", table, [{"status": "draft", "values": {}}]) == ([], "pending")


def test_pulled_rows_map_back_onto_the_chunks_even_without_the_chunk_ids():
    chunks = [{"chunk_id": "c1", "doc_id": "d", "source": "a.md", "position": 0, "text": "alpha beta gamma delta"}]
    rows, _ = judgments("q", "query", ["1|c1|a.md|beta gamma"], [{"status": "submitted", "values": {"relevant_passages": ["1"]}}])
    assert map_gold(rows, chunks).benchmark.qrels == {"q": {"c1": 1}}
    rechunked = [{**chunks[0], "chunk_id": "new-id"}]
    assert map_gold(rows, rechunked).benchmark.qrels == {"q": {"new-id": 1}}, "doc + span survive re-chunking"
