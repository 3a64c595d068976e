"""Batched llama.cpp decoding: the prefix helper, the grammar, and the real packaged 0.5B GGUF decoding
several prompts at once exactly as it decodes each alone."""

from __future__ import annotations

import json

import pytest

from embedtune.generation.batched import common_prefix, grammar_for
from embedtune.generation.prompts import multi_query_schema, query_keys


def test_common_prefix():
    assert common_prefix([]) == 0
    assert common_prefix([[1, 2, 3]]) == 3
    assert common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix([[1, 2], [3]]) == 0
    assert common_prefix([[], [1]]) == 0


def test_grammar_for_a_schema_and_free_text():
    assert grammar_for(None) is None
    assert grammar_for({"type": "text"}) is None
    schema = multi_query_schema(query_keys(["question", "keyword"]), False)
    grammar = grammar_for({"type": "json_object", "schema": schema})
    assert "root" in grammar and "question" in grammar and "keyword" in grammar
    assert "root" in grammar_for({"type": "json_object"})  # any JSON


@pytest.fixture(scope="module")
def small_llm():
    pytest.importorskip("llama_cpp")
    from embedtune.generation.batched import BatchedLlamaCppLLM
    from embedtune.generation.gguf import PACKAGED_MODELS, packaged_model_path

    llm = BatchedLlamaCppLLM(model_path=str(packaged_model_path(PACKAGED_MODELS["qwen2.5-coder-0.5b"])), n_ctx=512,
                             parallel=3, seed=7, extra_kwargs={"n_threads": 2, "n_threads_batch": 2})
    llm.load()
    yield llm
    llm.unload()


TOPICS = ["the lift of a wing at a high angle of attack", "protein folding in yeast cells",
          "caching model weights between pipeline runs"]


def _messages(topic: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You write search queries. Answer in JSON."},
            {"role": "user", "content": f"Write one question and one keyword query about {topic}."}]


@pytest.mark.slow
def test_batched_greedy_answers_equal_one_at_a_time(small_llm):
    """Sequences share the prefix's KV cells and decode together; each must still see only its own
    prompt: greedy answers in a batch of 3 equal the answers decoded one by one."""
    schema = {"type": "json_object", "schema": multi_query_schema(query_keys(["question", "keyword"]), False)}
    kwargs = {"max_new_tokens": 40, "temperature": 0.0, "extra_generation_kwargs": {"response_format": schema}}
    together = small_llm.generate([_messages(topic) for topic in TOPICS], **kwargs)
    alone = [small_llm.generate([_messages(topic)], **kwargs)[0] for topic in TOPICS]
    assert [out["generations"] for out in together] == [out["generations"] for out in alone]
    for out, topic in zip(together, TOPICS):
        answer = json.loads(out["generations"][0])  # the grammar holds: complete JSON with both keys
        assert set(answer) == {"question", "keyword"} and all(isinstance(v, str) and v for v in answer.values())
        assert out["statistics"]["input_tokens"][0] > 20 and 0 < out["statistics"]["output_tokens"][0] <= 40
    words = {word for text in [json.loads(out["generations"][0])["question"] for out in together]
             for word in text.lower().split()}
    assert {"wing", "protein", "caching"} & words  # each answer is about its own prompt


@pytest.mark.slow
def test_sampled_answers_are_seeded_and_distinct_per_sequence(small_llm):
    kwargs = {"max_new_tokens": 24, "temperature": 0.9, "top_p": 0.95}
    prompts = [_messages(TOPICS[0])] * 3
    first = [out["generations"][0] for out in small_llm.generate(prompts, **kwargs)]
    assert len(set(first)) > 1  # same prompt, own seed per sequence
    assert all(first)


def test_parallel_setting_picks_the_batched_llm():
    pytest.importorskip("llama_cpp")
    from embedtune.config import GenerationConfig
    from embedtune.generation.backends import make_llamacpp
    from embedtune.generation.batched import BatchedLlamaCppLLM

    one = make_llamacpp(GenerationConfig(backend="llamacpp", llamacpp={"model": "qwen2.5-coder-0.5b"}))
    assert not isinstance(one.llm, BatchedLlamaCppLLM)
    many = make_llamacpp(GenerationConfig(backend="llamacpp", llamacpp={"model": "qwen2.5-coder-0.5b", "parallel": 12}))
    assert isinstance(many.llm, BatchedLlamaCppLLM) and many.llm.parallel == 12
    assert many.batch_size == 12  # a runner batch fills every sequence


PASSAGES = [("The wing stalls when the angle of attack passes about fifteen degrees: the boundary layer separates "
             "from the upper surface, lift falls and drag rises sharply."),
            ("Yeast cells fold most of their proteins with the help of chaperones; misfolded proteins are "
             "tagged and degraded by the proteasome.")]


@pytest.mark.slow
def test_prompts_sharing_a_passage_reuse_its_cells_and_answer_as_alone(small_llm):
    """per_query mode: the two prompts of one passage differ only at the end; the second copies the
    first's cells for the passage, and still answers exactly as it does alone."""
    def messages(passage: str, ask: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": "You write search queries."},
                {"role": "user", "content": f"Passage:\n{passage}\n\n{ask}"}]

    prompts = [messages(PASSAGES[0], "Write one question a reader would ask."),
               messages(PASSAGES[0], "Write one short keyword query."),
               messages(PASSAGES[1], "Write one question a reader would ask.")]
    tokens = [small_llm.tokens(prompt) for prompt in prompts]
    from embedtune.generation.batched import MIN_REUSED, common_prefix

    assert common_prefix(tokens[:2]) - common_prefix(tokens) >= MIN_REUSED  # the copy path is taken
    kwargs = {"max_new_tokens": 24, "temperature": 0.0}
    together = [out["generations"] for out in small_llm.generate(prompts, **kwargs)]
    alone = [small_llm.generate([prompt], **kwargs)[0]["generations"] for prompt in prompts]
    assert together == alone
    assert all(answer[0].strip() for answer in together) and together[0] != together[1]
