"""What API embeddings cost: one dated price table, overridable, and an estimate before a run.

Prices are USD per 1M input tokens, from each provider's pricing page on `PRICES_DATE`; they change,
so `compare.api_prices` (`{"provider:model": usd_per_1m}`) overrides any of them, and a model missing
from both costs 0 with a warning (never a guess).

Tokens are estimated from characters before a run (`CHARS_PER_TOKEN`, about right for English with
these tokenizers; code and other scripts use more tokens per character), and counted from the answers
during it (Gemini's batch endpoint reports none: its tokens stay estimated, and say so).

Example:
    >>> estimate = estimate_cost("openai:text-embedding-3-large", ["a" * 4000] * 1000)
    >>> estimate.tokens, round(estimate.usd, 2)
    (1000000, 0.13)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PRICES_DATE = "2026-11-15"

# USD per 1M input tokens, standard (not batch) tier.
PRICES: dict[str, float] = {
    # https://openai.com/api/pricing/
    "openai:text-embedding-3-small": 0.02,
    "openai:text-embedding-3-large": 0.13,
    "openai:text-embedding-ada-002": 0.10,
    # https://ai.google.dev/gemini-api/docs/pricing (gemini-embedding-001, paid tier)
    "gemini:gemini-embedding-001": 0.15,
    # https://cohere.com/pricing (Embed 4, text)
    "cohere:embed-v4.0": 0.12,
    # https://docs.voyageai.com/docs/pricing
    "voyage:voyage-3.5": 0.06,
    "voyage:voyage-3.5-lite": 0.02,
    "voyage:voyage-3-large": 0.18,
}

CHARS_PER_TOKEN = 4.0


def estimate_tokens(texts: Iterable[str]) -> int:
    """Tokens of `texts` estimated from their characters (at least one per text)."""
    return sum(max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) for text in texts)


def usd_per_1m(spec: str, overrides: Mapping[str, float] | None = None) -> float | None:
    """The price of `provider:model` per 1M tokens: an override first, then `PRICES`; None if unknown."""
    for table in (overrides or {}, PRICES):
        for key, value in table.items():
            if key.lower() == spec.lower():
                return float(value)
    return None


@dataclass(frozen=True)
class CostEstimate:
    spec: str
    texts: int
    characters: int
    tokens: int
    usd: float
    requests: int
    priced: bool  # False: no price known, `usd` is 0

    def describe(self) -> str:
        price = f"~${self.usd:.4f}" if self.priced else "no price known (compare.api_prices)"
        return (f"{self.spec}: {self.texts:,} texts, {self.characters:,} characters, ~{self.tokens:,} tokens "
                f"(estimated at {CHARS_PER_TOKEN:g} characters per token), {price}, {self.requests:,} requests")


def estimate_cost(spec: str, texts: Iterable[str], overrides: Mapping[str, float] | None = None,
                  requests: int = 0) -> CostEstimate:
    """What embedding `texts` with `spec` will cost, from characters alone (nothing is sent)."""
    texts = list(texts)
    tokens = estimate_tokens(texts)
    price = usd_per_1m(spec, overrides)
    return CostEstimate(spec=spec, texts=len(texts), characters=sum(len(t) for t in texts), tokens=tokens,
                        usd=tokens * (price or 0.0) / 1_000_000, requests=requests, priced=price is not None)
