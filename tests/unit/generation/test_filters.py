"""From generated queries to pairs: contract fields, stable ids, and every filter counted by reason."""

from embedtune.config import FilterConfig
from embedtune.generation.filters import build_pairs, filter_pairs, pair_id
from tests.unit.samples import CHUNKS, PASSAGE, generated


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


def test_queries_that_reuse_the_passages_words_are_dropped_only_above_the_overlap_asked():
    from embedtune.data.text import word_overlap

    reworded = "how to skip recomputing finished work"  # skip, recomputing, finished, work: not in the passage
    copied = "step caching parameters unchanged"
    assert word_overlap(copied, PASSAGE) == 1.0 and word_overlap(reworded, PASSAGE) < 0.8
    pairs = build_pairs([generated(q) for q in (reworded, copied)], CHUNKS)
    kept, dropped = filter_pairs(pairs, FilterConfig(max_word_overlap=0.8))
    assert [p["query"] for p in kept] == [reworded] and dropped["too_extractive"] == 1
    kept, dropped = filter_pairs(pairs, FilterConfig())
    assert len(kept) == 2 and dropped["too_extractive"] == 0


def test_word_overlap_stems_and_ignores_stopwords():
    from embedtune.data.text import word_overlap

    assert word_overlap("BRCA1 mutations and cancer risk", "Carriers of a BRCA1 mutation ...") == 0.5
    assert word_overlap("the of and", "anything") == 0.0
