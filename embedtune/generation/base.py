"""The contract every query generator keeps, and the registry that picks one from config.

A generator receives chunks (dicts with at least `chunk_id`, `text`, `title`) and returns one
`GeneratedQuery` per requested query. It never raises on a bad LLM answer: it returns the row with
`query=None` and the raw text, so `filter_pairs` can count the failure instead of losing the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError

if TYPE_CHECKING:
    from embedtune.config import GenerationConfig

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

    def usage(self) -> dict[str, Any]:
        """Token/time accounting of the last `generate` call (backends fill what they know)."""
        return {}


_BACKENDS: dict[str, Callable[[GenerationConfig], QueryGenerator]] = {}


def register_backend(name: str) -> Callable:
    def decorator(factory: Callable[[GenerationConfig], QueryGenerator]):
        _BACKENDS[name] = factory
        return factory

    return decorator


def make_generator(config: GenerationConfig) -> QueryGenerator:
    # Backends register themselves on import; import lazily so heavy LLM deps load only when used.
    import embedtune.generation.heuristic

    if config.backend != "heuristic":
        try:
            import embedtune.generation.llm  # noqa: F401
        except ImportError as error:
            raise EmbedtuneError(
                f"generation backend '{config.backend}' needs packages that are not installed ({error}); "
                "run `make install` or pick `generation.backend: heuristic`"
            ) from error
    if config.backend not in _BACKENDS:
        raise EmbedtuneError(
            f"unknown generation backend '{config.backend}'; choose one of {sorted(_BACKENDS)}"
        )
    return _BACKENDS[config.backend](config)
