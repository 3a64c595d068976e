"""Reading the query out of LLM answers: clean, messy and garbage."""

from __future__ import annotations

import pytest

from embedtune.generation.parsing import parse_llm_output


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"query": "How do I register an S3 artifact store?"}', "How do I register an S3 artifact store?"),
        ('  {"query":"zenml step cache disable"}\n', "zenml step cache disable"),
        ('```json\n{"query": "configure artifact store"}\n```', "configure artifact store"),
        ('Sure! Here it is:\n```\n{"query": "disable step caching"}\n```\nHope it helps.', "disable step caching"),
        ('Here you go: {"query": "s3 artifact store setup"} -- enjoy', "s3 artifact store setup"),
        ('{"query": "\\"How are steps cached?\\""}', "How are steps cached?"),
        ('{"query": "\'quoted keywords here\'"}', "quoted keywords here"),
        ('{"Query": "  extra   spaces   inside "}', "extra spaces inside"),
        ('[{"query": "first of a list"}]', "first of a list"),
        ('"just a json string query"', "just a json string query"),
        ('{"keywords": ["artifact", "store", "s3"]}', "artifact store s3"),
        ("Query: how to cache steps", "how to cache steps"),
        # partial JSON: value complete, object not closed (max_new_tokens hit after the value)
        ('{"query": "how to disable caching", "hard_neg', "how to disable caching"),
    ],
)
def test_parse_good_and_messy_json(raw, expected):
    query, _ = parse_llm_output(raw)
    assert query == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   \n ",
        "I am sorry, I cannot help with that. Here are several thoughts\nspread over lines.",
        "{}",
        '{"query": ""}',
        '{"query": "   "}',
        '{"query": 42}',
        '{"answer": "no query key"}',
        '{"query": "how to disable cach',  # truncated inside the value: not a usable query
        "```json\n```",
        "{{{{not json",
        '{"query": "!!!"}',
        12345,
    ],
)
def test_parse_garbage_returns_none_and_never_raises(raw):
    assert parse_llm_output(raw) == (None, None)


def test_parse_hard_negative():
    query, negative = parse_llm_output('{"query": "register s3 store", "hard_negative": "register gcs store"}')
    assert (query, negative) == ("register s3 store", "register gcs store")


def test_a_per_chunk_answer_gives_one_query_per_key_in_order():
    from embedtune.generation.parsing import parse_chunk_output

    keys = ["question", "keyword", "question_2"]
    raw = '{"keyword": "pod storage", "question": "How do pods share storage?", "question_2": "  "}'
    assert parse_chunk_output(raw, keys) == (["How do pods share storage?", "pod storage", None], None)
    cut = '{"question": "How do pods share storage?", "keyword": "pod sto'
    assert parse_chunk_output(cut, keys) == (["How do pods share storage?", None, None], None)
    listed = '```json\n{"queries": ["a question?", "some keywords"]}\n```'
    assert parse_chunk_output(listed, keys) == (["a question?", "some keywords", None], None)
    negative = '{"question": "q one?", "keyword": "k", "question_2": "q two?", "hard_negative": "other topic"}'
    assert parse_chunk_output(negative, keys)[1] == "other topic"
    assert parse_chunk_output("no json here", keys) == ([None, None, None], None)
    assert parse_chunk_output(None, keys) == ([None, None, None], None)
