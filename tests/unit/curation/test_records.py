"""Argilla records from pairs, and reviews back to training rows (no server)."""

import pytest

from embedtune.curation.records import (
    CORRECTED_QUERY,
    NEGATIVE_IRRELEVANT,
    RELEVANT,
    VECTOR,
    Review,
    apply_reviews,
    pair_to_record,
    reduce_responses,
    unreviewed,
)
from tests.unit.samples import CHUNK, make_pair


def submitted(user, relevant, negative=None, corrected=None, status="submitted"):
    values = {RELEVANT: relevant}
    if negative is not None:
        values[NEGATIVE_IRRELEVANT] = negative
    if corrected is not None:
        values[CORRECTED_QUERY] = corrected
    return {"user": user, "status": status, "values": values}


def reviews_for_five_pairs():
    return {
        "pair0": Review(
            "pair0", "submitted", relevant=True, corrected_query="which pods share volumes", annotators=["ann"]
        ),
        "pair1": Review("pair1", "submitted", relevant=True, negative_rejected=True, annotators=["ann"]),
        "pair2": Review("pair2", "submitted", relevant=False, annotators=["ann"]),
        "pair3": Review("pair3", "discarded", annotators=["ann"]),
        "pair4": Review("pair4", "pending"),
    }


def test_record_id_is_the_pair_id_so_a_re_push_upserts():
    assert pair_to_record(make_pair(0))["id"] == "pair0"
    assert pair_to_record(make_pair(0))["id"] == pair_to_record(make_pair(0))["id"]


def test_record_carries_fields_metadata_vector_and_model_suggestions():
    record = pair_to_record(
        make_pair(0),
        CHUNK,
        query_tokens=7,
        query_vector=[0.5, -0.5],
        relevance_threshold=0.3,
        scorer="all-MiniLM-L6-v2 cosine",
    )
    assert record["fields"] == {
        "query": "how do pods share storage 0",
        "positive": "A pod groups containers that share storage 0.",
        "negative": "Sourdough rises because yeast ferments 0.",
    }
    assert record["metadata"] == {
        "source": "docs/kubernetes.md",
        "chunk_id": "chunk0",
        "negative_chunk_id": "neg0",
        "generator": "qwen2.5-coder-1.5b",
        "style": "question",
        "positive_score": 0.62,
        "negative_score": 0.41,
        "query_tokens": 7,
        "passage_tokens": 42,
    }
    assert record["vectors"] == {VECTOR: [0.5, -0.5]}
    suggestions = {s["question_name"]: s for s in record["suggestions"]}
    assert suggestions[RELEVANT] == {
        "question_name": RELEVANT,
        "value": "yes",
        "score": 0.62,
        "agent": "all-MiniLM-L6-v2 cosine",
    }
    assert suggestions[NEGATIVE_IRRELEVANT]["value"] == "yes"
    assert suggestions[NEGATIVE_IRRELEVANT]["score"] == pytest.approx(0.59)


def test_low_model_score_pre_fills_not_relevant_and_scores_stay_in_unit_range():
    record = pair_to_record(make_pair(0, positive_score=-0.2, negative_score=1.3), relevance_threshold=0.3)
    suggestions = {s["question_name"]: s for s in record["suggestions"]}
    assert suggestions[RELEVANT]["value"] == "no" and suggestions[RELEVANT]["score"] == 0.0
    assert suggestions[NEGATIVE_IRRELEVANT]["value"] == "no" and suggestions[NEGATIVE_IRRELEVANT]["score"] == 0.0


def test_pair_without_negative_has_no_negative_field_metadata_or_suggestion():
    record = pair_to_record(make_pair(1, negative=False), CHUNK)
    assert "negative" not in record["fields"]
    assert "negative_score" not in record["metadata"] and "negative_chunk_id" not in record["metadata"]
    assert [s["question_name"] for s in record["suggestions"]] == [RELEVANT]
    assert record["vectors"] == {}


def test_nan_scores_from_pandas_are_left_out():
    record = pair_to_record(make_pair(0, positive_score=float("nan")))
    assert "positive_score" not in record["metadata"]
    assert all(s["question_name"] != RELEVANT for s in record["suggestions"])


def test_one_reviewer_accepting_with_a_corrected_query_and_a_rejected_negative():
    review = reduce_responses("r", [submitted("ann", "yes", negative="no", corrected="  which pods share volumes  ")])
    assert review == Review(
        "r",
        "submitted",
        relevant=True,
        negative_rejected=True,
        corrected_query="which pods share volumes",
        annotators=["ann"],
    )


def test_reviewers_disagreeing_evenly_count_as_not_relevant():
    review = reduce_responses("r", [submitted("ann", "yes"), submitted("bob", "no")])
    assert review.status == "submitted" and review.relevant is False


def test_majority_of_reviewers_decides_and_drafts_do_not_count():
    responses = [
        submitted("ann", "yes"),
        submitted("bob", "yes"),
        submitted("cy", "no"),
        submitted("dee", "no", status="draft"),
    ]
    review = reduce_responses("r", responses)
    assert review.relevant is True and review.annotators == ["ann", "bob", "cy"]


def test_record_without_submitted_response_is_discarded_draft_or_pending():
    assert reduce_responses("r", [{"user": "ann", "status": "discarded", "values": {}}]).status == "discarded"
    assert reduce_responses("r", [submitted("ann", "yes", status="draft")]).status == "draft"
    assert reduce_responses("r", []).status == "pending"


def test_corrected_query_of_a_reviewer_who_rejected_the_pair_is_ignored():
    review = reduce_responses(
        "r", [submitted("ann", "no", corrected="x y z"), submitted("bob", "yes"), submitted("cy", "yes")]
    )
    assert review.relevant is True and review.corrected_query is None


def test_apply_reviews_keeps_accepted_applies_corrections_and_counts_every_decision():
    pairs = [make_pair(i) for i in range(6)]  # pair5 was never pushed
    rows, counts = apply_reviews(pairs, reviews_for_five_pairs(), include_pending=False)
    assert [(r["id"], r["query"], r["negative"], r["review_status"], r["annotators"]) for r in rows] == [
        ("pair0", "which pods share volumes", "Sourdough rises because yeast ferments 0.", "accepted", "ann"),
        ("pair1", "how do pods share storage 1", None, "accepted", "ann"),
    ]
    assert rows[1]["negative_id"] is None and rows[1]["negative_score"] is None
    assert counts["accepted"] == 2 and counts["rejected"] == 1 and counts["discarded"] == 1
    assert counts["pending_excluded"] == 1 and counts["not_in_argilla_excluded"] == 1
    assert counts["corrected_queries"] == 1 and counts["negatives_rejected"] == 1
    assert pairs[0]["query"] == "how do pods share storage 0", "the input pairs must not be modified"


def test_include_pending_keeps_unreviewed_pairs_marked_as_such():
    pairs = [make_pair(i) for i in range(6)]
    rows, counts = apply_reviews(pairs, reviews_for_five_pairs(), include_pending=True)
    assert [(r["id"], r["review_status"]) for r in rows] == [
        ("pair0", "accepted"),
        ("pair1", "accepted"),
        ("pair4", "unreviewed"),
        ("pair5", "unreviewed"),
    ]
    assert counts["pending_included"] == 1 and counts["not_in_argilla_included"] == 1


def test_unreviewed_marks_every_pair():
    assert [r["review_status"] for r in unreviewed([make_pair(0), make_pair(1)])] == ["unreviewed", "unreviewed"]


def test_record_shows_the_passage_heading_path_as_metadata_and_leaves_the_passage_alone():
    from embedtune.curation.records import HEADINGS

    chunk = {"chunk_id": "chunk0", "source": "docs/kubernetes.md", "n_tokens": 42, "headings": "Pods > Storage"}
    record = pair_to_record(make_pair(0), chunk)
    assert record["metadata"][HEADINGS] == "Pods > Storage"
    assert record["fields"]["positive"] == make_pair(0)["positive"]
    for old in ({**chunk, "headings": ""}, {**chunk, "headings": float("nan")}, {k: v for k, v in chunk.items() if k != "headings"}):
        assert HEADINGS not in pair_to_record(make_pair(0), old)["metadata"]
