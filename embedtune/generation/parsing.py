"""Reading a query out of an LLM's answer, whatever shape the answer has.

`parse_llm_output(raw)` returns `(query, hard_negative)` and never raises: an unusable answer is
`(None, None)`, which the runner keeps as a row with `query=None` and `filter_pairs` counts as
`parse_failure`. It accepts, in this order:

1. JSON (`{"query": ...}`, also under the keys `search_query`, `question`, `keywords`, `q`; a list of
   such objects; a bare JSON string), alone, inside a ``` fence, or between other text;
2. broken JSON with one complete `"query": "..."` pair (an answer cut off by `max_new_tokens`);
3. one labelled line, `Query: ...`.

Any other free text is treated as garbage rather than guessed at. Every query goes through
`clean_query`: whitespace collapsed, a "Query:" label and surrounding quotes removed, and nothing
without a letter or digit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

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
