"""The LLM prompt: style and corpus in the text, a shared prefix for the KV cache, the answer schema."""

from __future__ import annotations

from embedtune.config import GenerationConfig
from embedtune.generation.prompts import build_messages, build_system_prompt, query_schema
from embedtune.generation.runner import DistilabelQueryGenerator
from tests.unit.generation.fakes import CHUNKS, FakeLLM


def test_query_schema_caps_length_and_optional_negative():
    schema = query_schema()
    assert schema["required"] == ["query"]
    assert schema["properties"]["query"]["maxLength"] <= 150
    assert "hard_negative" in query_schema(hard_negative=True)["required"]


def _prompt_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)


def test_prompt_reflects_style_and_corpus_description():
    question = build_messages(CHUNKS[0], 0, "the ZenML MLOps docs")
    keyword = build_messages(CHUNKS[0], 1, "the ZenML MLOps docs")
    assert "the ZenML MLOps docs" in question[0]["content"]
    assert "question" in question[-1]["content"].lower() and "?" in question[-1]["content"]
    assert "keyword" in keyword[-1]["content"].lower()
    assert question[-1]["content"] != keyword[-1]["content"]
    assert "JSON" in question[0]["content"]
    assert CHUNKS[0]["text"] in _prompt_text(question)
    assert "Artifact stores" in _prompt_text(question)
    # a third query of a chunk asks for a different aspect rather than repeating query 1
    third = build_messages(CHUNKS[0], 2, "the ZenML MLOps docs")
    assert third[-1]["content"] != question[-1]["content"] and "variant" in third[-1]["content"]


def test_claim_style_asks_for_a_statement_and_is_used_for_every_query_when_alone():
    claims = [build_messages(CHUNKS[0], i, "abstracts", styles=["claim"]) for i in range(2)]
    assert all("claim" in m[-1]["content"].lower() and "not a question" in m[-1]["content"] for m in claims)
    assert "variant" not in claims[0][-1]["content"] and "variant 2" in claims[1][-1]["content"]
    rows = _fake_generator_with(GenerationConfig(query_styles=["claim", "question"])).build_rows(CHUNKS[:1], 3)
    assert [row["style"] for row in rows] == ["claim", "question", "claim"]


def _fake_generator_with(config: GenerationConfig) -> DistilabelQueryGenerator:
    return DistilabelQueryGenerator(config, FakeLLM(), {"max_new_tokens": 32}, "fake:llm")


def test_prompt_shares_prefix_across_chunks_and_styles():
    a0 = _prompt_text(build_messages(CHUNKS[0], 0, "docs"))
    a1 = _prompt_text(build_messages(CHUNKS[0], 1, "docs"))
    b0 = _prompt_text(build_messages(CHUNKS[1], 0, "docs"))
    system = build_system_prompt("docs")
    for text in (a0, a1, b0):
        assert text.startswith(system)  # shared instructions come first
    # only the chunk varies between chunks; the style instruction is the only suffix change per chunk
    passage_end = a0.index(CHUNKS[0]["text"]) + len(CHUNKS[0]["text"])
    assert a0[:passage_end] == a1[:passage_end]
    assert (
        a0[a0.index(CHUNKS[0]["text"]) + len(CHUNKS[0]["text"]) :]
        == b0[b0.index(CHUNKS[1]["text"]) + len(CHUNKS[1]["text"]) :]
    )


def test_prompt_truncates_long_passages():
    chunk = {"chunk_id": "x", "title": "t", "text": "word " * 5000}
    text = build_messages(chunk, 0, "docs", max_passage_chars=1000)[-1]["content"]
    assert len(text) < 1400


def test_a_per_chunk_prompt_asks_for_each_style_under_its_own_key_after_a_shared_prefix():
    from embedtune.generation.prompts import build_chunk_messages, multi_query_schema, prompt_version, query_keys

    first = build_chunk_messages({"text": "Pods share storage."}, 3, "the Kubernetes docs", styles=["question", "keyword"])
    second = build_chunk_messages({"text": "Nodes run pods."}, 3, "the Kubernetes docs", styles=["question", "keyword"])
    assert first[0] == second[0]  # the system message is the same for every chunk (KV cache reuse)
    asked = first[1]["content"].splitlines()
    assert asked[-4].startswith("Write 3 different search queries")
    assert [line.split(":")[0] for line in asked[-3:]] == ["- question", "- keyword", "- question_2"]
    assert "another question, about a different detail" in asked[-1]
    assert query_keys(["claim", "claim"]) == ["claim", "claim_2"]
    schema = multi_query_schema(["question", "keyword"], hard_negative=True)
    assert list(schema["properties"]) == schema["required"] == ["question", "keyword", "hard_negative"]
    assert prompt_version("per_chunk") == "llm-v2" and prompt_version("per_query", ["x"]) == "llm-v1-fewshot"


def test_example_queries_go_into_the_system_message_of_both_modes():
    from embedtune.generation.prompts import build_chunk_messages

    examples = ["0-dimensional biomaterials show inductive properties.", "ALDH1 expression is bad news."]
    for messages in (
        build_messages({"text": "x"}, 0, "PubMed abstracts", examples=examples),
        build_chunk_messages({"text": "x"}, 2, "PubMed abstracts", examples=examples),
    ):
        assert "Real searches of PubMed abstracts look like these" in messages[0]["content"]
        assert all(f"- {example}" in messages[0]["content"] for example in examples)
        assert examples[0] not in messages[1]["content"]
    assert "Real searches" not in build_messages({"text": "x"}, 0, "PubMed abstracts")[0]["content"]
