"""What every API embedder shares: settings, keys from the environment, batching, accounting, the budget.

A provider subclass says only how a batch becomes a request (`request_body`, `endpoint`) and how the
answer becomes vectors and a token count (`parse`); this class batches (the provider's maximum texts and
estimated tokens per request, never more than `ApiSettings.batch_size`), sends through
`embedtune.models.api.transport.post_json` (retries, Retry-After, one-line errors), counts tokens,
requests, retries and cost, and returns unit-normalised float32 vectors in input order.

Queries and documents are told apart the way each API wants (Cohere `input_type`, Gemini `taskType`,
Voyage `input_type`); `encode(texts, input_type="query")` is the call. The object also quacks enough
like a SentenceTransformer for `embedtune.evaluation.benchmark.evaluate_models` (`prompts`, `device`,
`max_seq_length`), so an API model evaluates wherever a local one does.

Example:
    >>> embedder = api_embedder("cohere:embed-v4.0", ApiSettings())  # needs $CO_API_KEY
    >>> print(embedder.estimate(queries, passages).describe())        # before spending anything
    >>> vectors = embedder.encode(passages, input_type="document")
    >>> embedder.usage()["cost_usd"]
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from embedtune import logger
from embedtune.models.api.pricing import CostEstimate, estimate_cost, estimate_tokens, usd_per_1m
from embedtune.models.api.transport import ApiAuthError, ApiError, Endpoint, RetryPolicy, post_json
from embedtune.models.catalog import CatalogEntry
from embedtune.models.encoding import normalise
from embedtune.util.redact import register_secret

InputType = Literal["query", "document"]


@dataclass
class ApiSettings:
    """How API embedders run; `steps/compare.py` fills it from the `compare:` config section."""

    base_url: str | None = None  # the server of `openai-compatible:MODEL` (its /v1 URL)
    api_key_env: str = "EMBEDTUNE_EMBEDDINGS_API_KEY"  # the key of `openai-compatible:MODEL`
    batch_size: int = 128  # texts per request, cut to each provider's maximum
    max_retries: int = 6
    timeout_s: float = 60.0
    dimensions: int | None = None  # ask the API for shorter vectors (OpenAI `dimensions`, Cohere/Voyage
    #                                `output_dimension`, Gemini `outputDimensionality`); None: full size
    max_cost_usd: float | None = 10.0  # refuse a run estimated above this before sending anything
    prices: dict[str, float] = field(default_factory=dict)  # `provider:model` -> USD per 1M tokens
    base_urls: dict[str, str] = field(default_factory=dict)  # provider -> URL (a gateway, a test server)
    backoff_s: float = 1.0


class ApiEmbedder:
    """Batched, retried, accounted calls to one provider's embeddings API (subclass per provider)."""

    provider: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    key_envs: ClassVar[tuple[str, ...]] = ()  # the first set one is used; the first is the documented one
    max_batch: ClassVar[int] = 96  # texts per request the API accepts
    max_batch_tokens: ClassVar[int] = 100_000  # estimated tokens per request we send (under the API's limit)
    input_types: ClassVar[Mapping[str, str]] = {}  # our "query"/"document" -> the API's value; {}: none sent
    source: ClassVar[str] = ""  # where the request/response format was read

    def __init__(self, spec: str, model: str, api_key: str, key_env: str, base_url: str, settings: ApiSettings,
                 entry: CatalogEntry | None = None) -> None:
        self.spec, self.model, self.key_env = spec, model, key_env
        self._key = api_key
        register_secret(api_key)  # no log record shows it, whoever logs it
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.entry = entry
        self.batch_size = max(1, min(settings.batch_size, self.max_batch))
        self.policy = RetryPolicy(max_retries=settings.max_retries, timeout_s=settings.timeout_s,
                                  backoff_s=settings.backoff_s)
        self.sleep = time.sleep  # tests replace it to check the waits without waiting
        self.prompt_tokens = 0
        self.requests = 0
        self.retries = 0
        self.tokens_estimated = False
        self.dim: int | None = settings.dimensions or (entry.dim if entry else None)
        # what evaluate_models reads from a SentenceTransformer
        self.prompts: dict[str, str] = {}
        self.device = "api"
        self.max_seq_length = entry.max_seq_length if entry else None

    # -- what a provider defines ---------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        raise NotImplementedError

    def request_body(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, body: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
        """(vectors in input order, tokens billed or None when the API does not say)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec

    @property
    def usd_per_1m_tokens(self) -> float:
        return usd_per_1m(self.spec, self.settings.prices) or 0.0

    @property
    def cost_usd(self) -> float:
        return self.prompt_tokens * self.usd_per_1m_tokens / 1_000_000

    def usage(self) -> dict[str, Any]:
        """Tokens, requests, retries and cost so far (tokens estimated when the API reports none)."""
        return {"model": self.spec, "tokens": self.prompt_tokens, "tokens_estimated": self.tokens_estimated,
                "requests": self.requests, "retries": self.retries, "cost_usd": self.cost_usd,
                "usd_per_1m_tokens": self.usd_per_1m_tokens}

    def batches(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        """[start, end) ranges: at most `batch_size` texts and `max_batch_tokens` estimated tokens each."""
        ranges, start, tokens = [], 0, 0
        for index, text in enumerate(texts):
            cost = estimate_tokens([text])
            if index > start and (index - start >= self.batch_size or tokens + cost > self.max_batch_tokens):
                ranges.append((start, index))
                start, tokens = index, 0
            tokens += cost
        if start < len(texts):
            ranges.append((start, len(texts)))
        return ranges

    def estimate(self, queries: Sequence[str], documents: Sequence[str] = ()) -> CostEstimate:
        """What encoding these queries and documents will cost, from characters; nothing is sent."""
        texts = [*queries, *documents]
        requests = len(self.batches(list(queries))) + len(self.batches(list(documents)))
        return estimate_cost(self.spec, texts, self.settings.prices, requests)

    def check_budget(self, queries: Sequence[str], documents: Sequence[str] = ()) -> CostEstimate:
        """Log the estimate; refuse (ApiError) when it is above `ApiSettings.max_cost_usd`."""
        estimate = self.estimate(queries, documents)
        logger.info("cost estimate before sending: %s", estimate.describe())
        if not estimate.priced:
            logger.warning("%s has no price in embedtune.models.api.pricing.PRICES nor compare.api_prices: "
                           "its cost shows as 0", self.spec)
        limit = self.settings.max_cost_usd
        if limit is not None and estimate.usd > limit:
            raise ApiError(
                f"{self.spec}: estimated ${estimate.usd:.2f} for {estimate.tokens} tokens is above "
                f"compare.api_max_cost_usd (${limit:.2f}); raise it, or sample fewer texts "
                "(compare --max-queries/--max-corpus)"
            )
        return estimate

    def encode(self, texts: Sequence[str], prompt: str = "", input_type: InputType = "document") -> np.ndarray:
        """Unit-normalised float32 embeddings of `texts`, in input order.

        Args:
            texts: what to embed (empty ones are sent as a space: the APIs reject empty strings).
            prompt: prepended to every text (an explicit `model.query_prompt`; API models need none).
            input_type: "query" or "document", sent the way this API wants it.
        """
        if input_type not in ("query", "document"):
            raise ValueError(f"input_type must be 'query' or 'document', not {input_type!r}")
        prepared = [f"{prompt}{text}" if prompt else str(text) for text in texts]
        prepared = [text if text.strip() else " " for text in prepared]
        rows: list[list[float]] = []
        for start, end in self.batches(prepared):
            batch = prepared[start:end]
            body = post_json(self.endpoint(), self.request_body(batch, input_type), self.policy, self.spec,
                             self.key_env, [self._key], self.sleep, self._count_retry)
            self.requests += 1
            vectors, tokens = self.parse(body, len(batch))
            if len(vectors) != len(batch):
                raise ApiError(f"{self.spec} returned {len(vectors)} embeddings for {len(batch)} texts")
            if tokens is None:
                tokens, self.tokens_estimated = estimate_tokens(batch), True
            self.prompt_tokens += int(tokens)
            rows.extend(vectors)
        if not rows:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        embeddings = np.asarray(rows, dtype=np.float32)
        self.dim = int(embeddings.shape[1])
        return normalise(embeddings)

    def _count_retry(self, attempt: int, wait: float, why: str) -> None:
        self.retries += 1

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.spec!r}, base_url={self.base_url!r})"


def find_key(names: Sequence[str]) -> tuple[str, str]:
    """(value, variable) of the first set environment variable in `names`; ("", names[0]) if none is."""
    for name in names:
        value = os.environ.get(name, "")
        if value:
            return value, name
    return "", names[0] if names else ""


def require_key(spec: str, names: Sequence[str]) -> tuple[str, str]:
    value, name = find_key(names)
    if not value:
        also = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        raise ApiAuthError(f"{spec}: no API key: set the environment variable {names[0]}{also}")
    return value, name
