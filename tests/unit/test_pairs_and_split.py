import pytest

from embedtune import EmbedtuneError
from embedtune.config import FilterConfig, GenerationConfig, SplitConfig
from embedtune.generation import GeneratedQuery, make_generator
from embedtune.pairs import build_pairs, filter_pairs, pair_id
from embedtune.split import split_by_document
from embedtune.text import content_words

PASSAGE = (
    "ZenML caches a step when its code, parameters and inputs are unchanged, so a second run of the same "
    "pipeline finishes in seconds and reuses every artifact from the first run."
)
CHUNKS = [{"chunk_id": "c1", "doc_id": "d1", "text": PASSAGE, "title": "Caching"}]


def generated(query, chunk="c1", style="question"):
    return GeneratedQuery(chunk_id=chunk, query=query, style=style, generator="fake", prompt_version="t", raw=str(query))


def test_pairs_carry_the_contract_fields_and_stable_ids():
    rows = build_pairs([generated("how does step caching work?")], CHUNKS)
    assert set(rows[0]) >= {"id", "query", "positive", "positive_id", "llm_negative", "generator", "prompt_version"}
    assert rows[0]["id"] == pair_id("c1", "how does step caching work?")
    assert rows[0]["positive"] == PASSAGE


def test_every_filter_drops_for_its_reason_and_counts_it():
    queries = [
        "how does step caching work?",  # kept
        None,  # parse failure
        "cache",  # too short
        "x " * 200,  # too long
        "caches a step when its code, parameters and inputs are unchanged, so a second run",  # copies passage
        "Does the passage say which outputs are cached?",  # points at the text it was written from
        "How does step caching work",  # duplicate after normalisation
        "step caching work how does it?",  # near duplicate of the first (same words)
        "which artifacts are reused on a second run",  # kept
    ]
    kept, dropped = filter_pairs(build_pairs([generated(q) for q in queries], CHUNKS), FilterConfig())
    assert [p["query"] for p in kept] == [queries[0], queries[-1]]
    assert dropped["parse_failure"] == dropped["too_short"] == dropped["too_long"] == 1
    assert dropped["copies_passage"] == dropped["duplicate"] == dropped["near_duplicate"] == 1
    assert dropped["mentions_source"] == 1


def test_source_mentions_are_dropped_only_when_asked_and_only_for_the_artefact_phrases():
    artefacts = ["What does this study find about caching?", "caching in the above passage",
                 "Does the paper support step caching?"]
    searches = ["how to pass a study id to a step", "paper trail of artifact versions", "passage of time in schedules"]
    kept, dropped = filter_pairs(build_pairs([generated(q) for q in artefacts + searches], CHUNKS), FilterConfig())
    assert [p["query"] for p in kept] == searches and dropped["mentions_source"] == 3
    kept, _ = filter_pairs(build_pairs([generated(q) for q in artefacts], CHUNKS), FilterConfig(drop_source_mentions=False))
    assert len(kept) == 3


def test_heuristic_generator_gives_the_requested_number_and_alternates_styles():
    chunks = [dict(CHUNKS[0], chunk_id=f"c{i}") for i in range(3)]
    rows = make_generator(GenerationConfig(backend="heuristic")).generate(chunks, 4)
    assert len(rows) == 12
    assert [r.style for r in rows[:4]] == ["question", "keyword", "question", "keyword"]
    assert all(r.query for r in rows)


def test_heuristic_claims_are_in_order_content_words_of_one_sentence():
    rows = make_generator(GenerationConfig(backend="heuristic", query_styles=["claim"])).generate(CHUNKS[:1], 2)
    assert [r.style for r in rows] == ["claim", "claim"]
    passage = content_words(CHUNKS[0]["text"])
    for row in rows:
        claim = row.query.split()
        assert 2 <= len(claim) <= 8 and "?" not in row.query
        runs = [passage[start : start + len(claim)] for start in range(len(passage))]
        assert claim in runs  # a run of the passage's content words, in order


def test_query_styles_must_be_known_and_not_empty():
    for bad in ([], ["headline"]):
        with pytest.raises(ValueError, match="query_styles"):
            GenerationConfig(query_styles=bad)


def test_vllm_without_its_package_is_a_clear_error_naming_the_fix():

    try:
        import vllm  # noqa: F401

        pytest.skip("vllm is installed here, so the missing-package message cannot be shown")
    except ImportError:
        pass
    with pytest.raises(EmbedtuneError, match="vllm backend needs the vllm package"):
        make_generator(GenerationConfig(backend="vllm", local_model={"model": "some/model"}))


def make_pairs(n_docs: int, per_doc: int = 3):
    return [{"id": f"{d}-{i}", "doc_id": f"doc{d}", "query": "q", "positive": "p"} for d in range(n_docs) for i in range(per_doc)]


def test_no_test_or_validation_document_appears_in_train():
    train, validation, test = split_by_document(make_pairs(20), SplitConfig(validation_fraction=0.1, test_fraction=0.2))
    docs = [{p["doc_id"] for p in rows} for rows in (train, validation, test)]
    assert docs[0].isdisjoint(docs[1]) and docs[0].isdisjoint(docs[2]) and docs[1].isdisjoint(docs[2])
    assert (len(docs[0]), len(docs[1]), len(docs[2])) == (14, 2, 4)
    assert len(train) + len(validation) + len(test) == 60


def test_split_is_deterministic_for_a_seed():
    first = split_by_document(make_pairs(10), SplitConfig(seed=7))
    again = split_by_document(make_pairs(10), SplitConfig(seed=7))
    assert [[p["id"] for p in part] for part in first] == [[p["id"] for p in part] for part in again]


def test_split_needs_two_documents():
    with pytest.raises(EmbedtuneError, match="at least 2 documents"):
        split_by_document(make_pairs(1), SplitConfig())


def test_sample_markdown_marks_filter_verdicts_and_names_the_command():
    from embedtune.examples import pairs_markdown

    rows = build_pairs([generated(f"question number {i} about caching") for i in range(5)] + [generated(None)], CHUNKS)
    text = pairs_markdown(rows, {rows[0]["id"]}, n=6, seed=1, command="python run.py samples", source="docs")
    assert text.startswith("# 6 generated pairs from docs")
    assert "`python run.py samples`" in text and "1 of 6 kept" in text
    assert text.count("dropped by filters") == 5 and "(unparsed:" in text


def report_with(gain, ci_low, ci_high):
    return {"models": {"tuned": {"384": {}}}, "gains": {"tuned": {"384": {"ndcg@10": {
        "gain": gain, "ci_low": ci_low, "ci_high": ci_high}}}}}


def test_promotion_needs_a_gain_over_the_base():
    from embedtune.config import PromotionConfig
    from embedtune.promotion import decide

    assert decide(report_with(0.03, 0.01, 0.05), PromotionConfig())[0] is True
    promoted, reason = decide(report_with(-0.02, -0.05, 0.01), PromotionConfig())
    assert promoted is False and "does not exceed promotion.min_ndcg_gain=0.0" in reason
    assert decide(report_with(0.03, 0.01, 0.05), PromotionConfig(min_ndcg_gain=0.05))[0] is False


def test_promotion_requires_the_ci_above_zero_by_default():
    from embedtune.config import PromotionConfig
    from embedtune.promotion import decide

    promoted, reason = decide(report_with(0.02, -0.01, 0.05), PromotionConfig())
    assert promoted is False and "not significant" in reason
    assert decide(report_with(0.02, -0.01, 0.05), PromotionConfig(require_significant=False))[0] is True


def test_promotion_must_also_beat_the_incumbent_version():
    from embedtune.config import PromotionConfig
    from embedtune.promotion import decide

    config = PromotionConfig(stage="production")
    better = {"version": "3", "gain": 0.01, "ci_low": 0.002, "ci_high": 0.02}
    worse = {"version": "3", "gain": -0.01, "ci_low": -0.02, "ci_high": 0.001}
    promoted, reason = decide(report_with(0.03, 0.01, 0.05), config, better)
    assert promoted is True and "replacing version 3" in reason
    promoted, reason = decide(report_with(0.03, 0.01, 0.05), config, worse)
    assert promoted is False and "but not the current production version 3" in reason
