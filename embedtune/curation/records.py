"""Human review of generated pairs, as plain data: pairs -> Argilla record dicts, reviews -> training rows.

No Argilla import here (the SDK needs a live server even to build settings objects): `embedtune.argilla_client`
turns these dicts into SDK calls. The record id is the pair id (a stable hash of chunk id + query), so pushing
again updates records instead of duplicating them. A record's `headings` metadata is its passage's heading path
('Guide > Install'), shown beside the passage and filterable; the passage field itself is the chunk text as trained.

Review questions, per record:
- `relevant` (yes/no): does the passage answer the query? A "no" drops the pair.
- `negative_irrelevant` (yes/no): is the hard negative really irrelevant? A "no" drops that negative; training then
  falls back to another pair's positive, as it does for pairs whose mining found no safe negative.
- `corrected_query` (text, optional): replaces the query when given.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RELEVANT = "relevant"
NEGATIVE_IRRELEVANT = "negative_irrelevant"
CORRECTED_QUERY = "corrected_query"
VECTOR = "query_embedding"
HEADINGS = "headings"  # metadata: the passage's heading path (chunks made before 2026-12-02 have none)
YES, NO = "yes", "no"

GUIDELINES = """\
Each record is a search **query** written by a language model for the **passage** below it, and a **hard
negative**: a passage from the same corpus that the base model ranks high for the query but which should *not*
answer it. Your answers decide what the embedding model is trained on.

1. **Is the passage relevant to the query?** *yes* if a person searching with this query would be glad to find
   this passage. *no* if the query is vague, wrong, asks something the passage does not answer, or copies it.
2. **Is the negative really irrelevant?** *no* if the negative passage also answers the query (then it must not
   be used as a negative). Leave empty if there is no negative.
3. **Corrected query** (optional): if the query is almost right, type a better one; it replaces the original.

The answers are pre-filled from the base model's similarity scores: check them, do not trust them. Submit
(or press Enter) to accept; Discard skips a record you cannot judge. Use the similarity search on the query
embedding to review near-duplicate queries together.
"""

# Record-level review outcomes, counted in the curated artifact's metadata.
OUTCOMES = (
    "accepted",
    "rejected",
    "discarded",
    "pending_included",
    "pending_excluded",
    "not_in_argilla_included",
    "not_in_argilla_excluded",
)


def _clean_number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def pair_to_record(
    pair: Mapping[str, Any],
    chunk: Mapping[str, Any] | None = None,
    query_tokens: int | None = None,
    query_vector: Sequence[float] | None = None,
    relevance_threshold: float = 0.3,
    scorer: str = "base model",
) -> dict[str, Any]:
    """One `training_triplets` row as an Argilla record dict: id, fields, metadata, vectors, suggestions."""
    positive_score = _clean_number(pair.get("positive_score"))
    negative_score = _clean_number(pair.get("negative_score"))
    negative = pair.get("negative") or None
    headings = (chunk or {}).get("headings")
    metadata: dict[str, Any] = {
        "source": (chunk or {}).get("source") or pair.get("doc_id"),
        HEADINGS: headings if isinstance(headings, str) and headings else None,
        "chunk_id": pair.get("positive_id"),
        "negative_chunk_id": pair.get("negative_id") if negative else None,
        "generator": pair.get("generator"),
        "style": pair.get("style"),
        "positive_score": positive_score,
        "negative_score": negative_score if negative else None,
        "query_tokens": query_tokens,
        "passage_tokens": int(chunk["n_tokens"]) if chunk and chunk.get("n_tokens") is not None else None,
    }
    suggestions = []
    if positive_score is not None:
        suggestions.append(
            {
                "question_name": RELEVANT,
                "value": YES if positive_score >= relevance_threshold else NO,
                "score": round(_clamp01(positive_score), 4),
                "agent": scorer,
            }
        )
    if negative and negative_score is not None:
        clearly_lower = positive_score is None or negative_score < positive_score
        suggestions.append(
            {
                "question_name": NEGATIVE_IRRELEVANT,
                "value": YES if clearly_lower else NO,
                "score": round(_clamp01(1.0 - negative_score), 4),
                "agent": scorer,
            }
        )
    record: dict[str, Any] = {
        "id": pair["id"],
        "fields": {
            "query": pair["query"],
            "positive": pair["positive"],
            **({"negative": negative} if negative else {}),
        },
        "metadata": {key: value for key, value in metadata.items() if value is not None},
        "suggestions": suggestions,
        "vectors": {VECTOR: [float(x) for x in query_vector]} if query_vector is not None else {},
    }
    return record


@dataclass
class Review:
    """One record's review, reduced from its users' responses (see `reduce_responses`)."""

    record_id: str
    status: str  # "submitted" (at least one submitted response), "discarded", "draft" or "pending"
    relevant: bool | None = None
    negative_rejected: bool = False
    corrected_query: str | None = None
    annotators: list[str] = field(default_factory=list)


def _majority_yes(values: Sequence[str]) -> bool | None:
    """True/False by majority of yes/no answers; a tie counts as "no" (keep nothing a reviewer doubted)."""
    answers = [value for value in values if value in (YES, NO)]
    if not answers:
        return None
    return answers.count(YES) > answers.count(NO)


def reduce_responses(record_id: str, responses: Iterable[Mapping[str, Any]]) -> Review:
    """Responses are dicts {"user": name, "status": submitted|discarded|draft, "values": {question: value}}.

    Only submitted responses decide. With several reviewers: relevant and negative by majority (tie = "no"),
    the first non-empty corrected query among reviewers who said the passage is relevant."""
    responses = list(responses)
    submitted = [r for r in responses if r.get("status") == "submitted"]
    if not submitted:
        statuses = {r.get("status") for r in responses}
        status = "discarded" if "discarded" in statuses else "draft" if "draft" in statuses else "pending"
        return Review(record_id, status, annotators=sorted({str(r.get("user")) for r in responses if r.get("user")}))
    relevant = _majority_yes([(r.get("values") or {}).get(RELEVANT) for r in submitted])
    negative_ok = _majority_yes([(r.get("values") or {}).get(NEGATIVE_IRRELEVANT) for r in submitted])
    corrected = None
    for response in submitted:
        values = response.get("values") or {}
        text = (values.get(CORRECTED_QUERY) or "").strip()
        if text and values.get(RELEVANT) != NO:
            corrected = text
            break
    return Review(
        record_id,
        "submitted",
        relevant=bool(relevant),  # a submitted review without an answer to `relevant` (it is required) = "no"
        negative_rejected=negative_ok is False,
        corrected_query=corrected,
        annotators=sorted({str(r.get("user")) for r in submitted if r.get("user")}),
    )


def apply_reviews(
    pairs: Sequence[Mapping[str, Any]], reviews: Mapping[str, Review], include_pending: bool
) -> tuple[list[dict[str, Any]], Counter]:
    """The curated training rows and the count of every decision.

    Kept: submitted and judged relevant (corrected query applied, rejected negative removed); with
    `include_pending`, also records nobody has submitted yet and pairs never pushed, marked unreviewed."""
    counts: Counter = Counter({name: 0 for name in (*OUTCOMES, "corrected_queries", "negatives_rejected")})
    rows: list[dict[str, Any]] = []
    for pair in pairs:
        review = reviews.get(pair["id"])
        row = dict(pair)
        if review is None or review.status in ("pending", "draft"):
            prefix = "not_in_argilla" if review is None else "pending"
            if not include_pending:
                counts[f"{prefix}_excluded"] += 1
                continue
            counts[f"{prefix}_included"] += 1
            rows.append({**row, "review_status": "unreviewed", "annotators": ""})
            continue
        if review.status == "discarded":
            counts["discarded"] += 1
            continue
        if not review.relevant:
            counts["rejected"] += 1
            continue
        counts["accepted"] += 1
        if review.corrected_query and review.corrected_query != row["query"]:
            row["query"] = review.corrected_query
            counts["corrected_queries"] += 1
        if review.negative_rejected and row.get("negative"):
            row.update(negative=None, negative_id=None, negative_score=None)
            counts["negatives_rejected"] += 1
        rows.append({**row, "review_status": "accepted", "annotators": ",".join(review.annotators)})
    return rows, counts


def unreviewed(pairs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pairs as curated rows when no review happened (Argilla not configured)."""
    return [{**pair, "review_status": "unreviewed", "annotators": ""} for pair in pairs]
