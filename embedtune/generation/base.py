"""The contract every query generator keeps: `QueryGenerator`, the `GeneratedQuery` row it returns,
and the query styles.

A generator receives chunks (dicts with at least `chunk_id`, `text`, `title`) and returns one
`GeneratedQuery` per requested query, query `i` of a chunk in style `style_for(i, config.query_styles)`.
It never raises on a bad LLM answer: it returns the row with `query=None` and the raw text, so
`filter_pairs` can count the failure instead of losing the run. The backends that implement it, and
`make_generator(config)` that picks one, are in `embedtune.generation.backends`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

QUERY_STYLES = ("question", "keyword", "claim")
DEFAULT_STYLES = ("question", "keyword")


@dataclass
class GeneratedQuery:
    chunk_id: str
    query: str | None  # None when the backend's output could not be parsed
    style: str  # one of QUERY_STYLES
    generator: str  # backend and model, e.g. "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m"
    prompt_version: str
    llm_negative: str | None = None  # an LLM-written hard-negative query or passage, if any
    raw: str = ""  # the backend's raw answer, kept so parse failures can be inspected
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def style_for(index: int, styles: Sequence[str] = DEFAULT_STYLES) -> str:
    """Query `index` of a chunk: the configured styles in turn (default: question, keyword, question, ...)."""
    return styles[index % len(styles)]


class QueryGenerator(ABC):
    """Turns chunks into search queries; one instance per generation run."""

    name: str = "abstract"
    prompt_version: str = "v1"

    @abstractmethod
    def generate(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> list[GeneratedQuery]:
        """Return `queries_per_chunk` rows for every chunk, styles from `style_for(i, config.query_styles)`."""

    def stored_share(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> float:
        """The share of the prompts `generate(chunks, queries_per_chunk)` would send that are already answered
        (a backend with an answer store, `embedtune.generation.journal`); the run estimate leaves them out."""
        return 0.0

    def usage(self) -> dict[str, Any]:
        """Token/time accounting of the last `generate` call (backends fill what they know)."""
        return {}
