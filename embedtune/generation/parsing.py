"""Reading a query out of an LLM's answer, whatever shape the answer has.

`parse_llm_output(raw)` returns `(query, hard_negative)` and never raises: an unusable answer is
`(None, None)`, which the runner keeps as a row with `query=None` and `filter_pairs` counts as
`parse_failure`. It accepts, in this order:

1. JSON (`{"query": ...}`, also under the keys `search_query`, `question`, `keywords`, `q`; a list of
   such objects; a bare JSON string), alone, inside a ``` fence, or between other text;
2. broken JSON with one complete `"query": "..."` pair (an answer cut off by `max_new_tokens`);
3. one labelled line, `Query: ...`.

`parse_chunk_output(raw, keys)` reads a per-chunk answer (`prompt_mode: per_chunk`): one query per
key, in order, `None` where a key is missing or unusable (from JSON, or from the complete
`"key": "..."` pairs of a cut-off answer; a `{"queries": [...]}` list is taken in order).

Any other free text is treated as garbage rather than guessed at. Every query goes through
`clean_query`: whitespace collapsed, a "Query:" label and surrounding quotes removed, and nothing
without a letter or digit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from embedtune.generation.base import GeneratedQuery

_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_QUERY_KEYS = ("query", "search_query", "question", "keywords", "q")
_NEGATIVE_KEYS = ("hard_negative", "negative", "hard_negative_query")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_LABEL = re.compile(r"^(?:search\s+)?(?:query|question|keywords?)\s*[:\-]\s*", re.IGNORECASE)


def clean_query(value: Any) -> str | None:
    """Normalise one query string; None when nothing usable remains.

    A list of strings (`{"keywords": ["a", "b"]}`) is joined with spaces; any other non-string is None.
    """
    if not isinstance(value, str):
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = " ".join(value)  # {"keywords": ["a", "b"]}
        else:
            return None
    text = " ".join(value.split())
    text = _LABEL.sub("", text)
    for _ in range(3):
        stripped = text.strip().strip(_QUOTES).strip()
        if stripped == text:
            break
        text = stripped
    if not any(ch.isalnum() for ch in text):
        return None
    return text


def _json_candidates(text: str) -> Iterator[str]:
    yield text
    for match in _FENCE.finditer(text):
        yield match.group(1).strip()
    start = text.find("{")
    end = text.rfind("}")
    if start != -1 and end > start:
        yield text[start : end + 1]


def _from_object(obj: Any) -> tuple[str | None, str | None] | None:
    if isinstance(obj, list):
        obj = obj[0] if obj else None
    if isinstance(obj, str):
        return clean_query(obj), None
    if not isinstance(obj, dict):
        return None
    lowered = {str(k).lower(): v for k, v in obj.items()}
    query = next((clean_query(lowered[k]) for k in _QUERY_KEYS if k in lowered), None)
    negative = next((clean_query(lowered[k]) for k in _NEGATIVE_KEYS if k in lowered), None)
    return query, negative


def _string_field(text: str, keys: Sequence[str]) -> str | None:
    """A complete `"key": "value"` pair in otherwise broken JSON (truncated, trailing junk)."""
    for key in keys:
        match = re.search(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)"', text, re.IGNORECASE)
        if match:
            try:
                return clean_query(json.loads(f'"{match.group(1)}"'))
            except ValueError:
                return clean_query(match.group(1))
    return None


def parse_llm_output(raw: Any) -> tuple[str | None, str | None]:
    """(query, hard_negative) from an LLM answer; (None, None) for anything unusable. Never raises.

    Args:
        raw: the LLM's answer text (None or a non-string when the call gave no content).

    Returns:
        The cleaned query and hard-negative query; either may be None.
    """
    if not isinstance(raw, str):
        return None, None
    text = raw.strip()
    if not text:
        return None, None
    for candidate in _json_candidates(text):
        try:
            parsed = _from_object(json.loads(candidate))
        except ValueError:
            continue
        if parsed is not None:
            return parsed
    # Partial JSON: accept a field only if its string value is complete (closing quote present).
    query = _string_field(text, _QUERY_KEYS)
    if query is not None:
        return query, _string_field(text, _NEGATIVE_KEYS)
    # A single labelled line ("Query: ...") is unambiguous; other free text is treated as garbage.
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and _LABEL.match(lines[0].strip().strip(_QUOTES)):
        return clean_query(lines[0]), None
    return None, None


def parse_chunk_output(raw: Any, keys: Sequence[str]) -> tuple[list[str | None], str | None]:
    """([query per key], hard_negative) from a per-chunk answer; Nones for anything unusable. Never raises."""
    empty: list[str | None] = [None] * len(keys)
    if not isinstance(raw, str) or not raw.strip():
        return empty, None
    text = raw.strip()
    for candidate in _json_candidates(text):
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict):
            lowered = {str(k).lower(): v for k, v in obj.items()}
            listed = lowered.get("queries")
            if isinstance(listed, list) and not any(key in lowered for key in keys):
                values = [clean_query(v if not isinstance(v, dict) else v.get("query")) for v in listed[: len(keys)]]
                queries = values + [None] * (len(keys) - len(values))
            else:
                queries = [clean_query(lowered.get(key.lower())) for key in keys]
            negative = next((clean_query(lowered[k]) for k in _NEGATIVE_KEYS if k in lowered), None)
            return queries, negative
    # Cut off mid-answer: keep every key whose string value is complete.
    return [_string_field(text, [key]) for key in keys], _string_field(text, _NEGATIVE_KEYS)


def queries_from_answer(
    row: dict[str, Any], raw: Any, prompt_tokens: int, completion_tokens: int, generator: str,
    prompt_version: str, hard_negative: bool = False,
) -> list[GeneratedQuery]:
    """The `GeneratedQuery` rows of one prompt's answer: one for a per-query prompt, one per key of a
    per-chunk prompt (its tokens shared out, the remainder on the first)."""
    chunk_id = row["row_id"].rsplit("::", 1)[0]
    if "keys" in row:
        found, negative = parse_chunk_output(raw, row["keys"])
    else:
        query, negative = parse_llm_output(raw)
        found = [query]
    styles = row.get("styles") or [row["style"]]
    count = len(found)
    return [
        GeneratedQuery(
            chunk_id=chunk_id,
            query=query,
            style=style,
            generator=generator,
            prompt_version=prompt_version,
            llm_negative=negative if hard_negative else None,
            raw=raw if isinstance(raw, str) else "",
            prompt_tokens=prompt_tokens // count + (prompt_tokens % count if index == 0 else 0),
            completion_tokens=completion_tokens // count + (completion_tokens % count if index == 0 else 0),
        )
        for index, (query, style) in enumerate(zip(found, styles))
    ]
