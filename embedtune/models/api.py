"""Embedders behind an API: OpenAI `text-embedding-3-*` and any OpenAI-compatible `/v1/embeddings`.

A candidate `provider:model` (`openai:text-embedding-3-small`, `gemini:...`, `cohere:...`, or
`openai-compatible:MODEL` with `compare.api_base_url`) is used only when the environment variable that
holds its key is set; otherwise it is skipped with a message, never a failure. The key is read from the
environment at call time and never logged, stored in a config or written to an artifact.

Requests go in batches of `batch_size` texts; the `openai` SDK retries 408/409/429/5xx with exponential
backoff (honouring Retry-After) up to `max_retries` times. Token usage comes from the responses and is
priced with the catalog's USD per 1M tokens. Voyage has no OpenAI-compatible endpoint: it is a
documented stub in the catalog and always skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedtune import EmbedtuneError, logger
from embedtune.models.catalog import CatalogEntry, lookup
from embedtune.models.encoding import normalise


@dataclass
class ApiSettings:
    base_url: str | None = None  # for `openai-compatible:MODEL`
    api_key_env: str = "EMBEDTUNE_EMBEDDINGS_API_KEY"  # for `openai-compatible:MODEL`
    batch_size: int = 128
    max_retries: int = 6
    timeout_s: float = 60.0


class ApiEmbedder:
    """Batched, retried calls to an OpenAI-compatible embeddings endpoint; counts tokens and cost."""

    def __init__(self, entry: CatalogEntry, model: str, api_key: str, base_url: str | None, settings: ApiSettings):
        try:
            from openai import OpenAI
        except ImportError:
            raise EmbedtuneError("API embedders need the `openai` package: pip install -e '.[openai]'") from None
        self.entry = entry
        self.model = model
        self.batch_size = settings.batch_size
        self.client = OpenAI(api_key=api_key, base_url=base_url, max_retries=settings.max_retries,
                             timeout=settings.timeout_s)
        self.prompt_tokens = 0
        self.requests = 0

    @property
    def cost_usd(self) -> float:
        return self.prompt_tokens * self.entry.usd_per_1m_tokens / 1_000_000

    def encode(self, texts: Sequence[str], prompt: str = "") -> np.ndarray:
        """Unit-normalised float32 embeddings, in input order."""
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [f"{prompt}{text}" if prompt else str(text) for text in texts[start : start + self.batch_size]]
            batch = [text if text.strip() else " " for text in batch]  # the API rejects empty strings
            response = self.client.embeddings.create(model=self.model, input=batch, encoding_format="float")
            self.requests += 1
            usage = getattr(response, "usage", None)
            self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or getattr(usage, "total_tokens", 0) or 0)
            ordered = sorted(response.data, key=lambda item: item.index)
            if len(ordered) != len(batch):
                raise EmbedtuneError(
                    f"{self.entry.name} returned {len(ordered)} embeddings for {len(batch)} texts"
                )
            rows.extend(item.embedding for item in ordered)
        if not rows:
            return np.zeros((0, self.entry.dim or 0), dtype=np.float32)
        return normalise(np.asarray(rows, dtype=np.float32))


def api_entry(spec: str) -> CatalogEntry:
    """The catalog entry of an API spec; unknown models of a known provider get an unpriced entry."""
    entry = lookup(spec)
    if entry is not None:
        return entry
    provider, model = spec.split(":", 1)
    known = {e.name.split(":", 1)[0]: e for e in _api_entries()}
    template = known.get(provider.lower())
    return CatalogEntry(
        name=spec, kind="api", license="proprietary (API terms)" if template else "unknown", dim=None,
        max_seq_length=template.max_seq_length if template else None,
        base_url=template.base_url if template else None,
        api_key_env=template.api_key_env if template else "", supported=template.supported if template else True,
        notes=f"not in the catalog: no price, cost shows 0 ({model})",
    )


def _api_entries() -> list[CatalogEntry]:
    from embedtune.models.catalog import ENTRIES

    return [entry for entry in ENTRIES if entry.is_api]


def make_api_embedder(spec: str, settings: ApiSettings) -> tuple[ApiEmbedder | None, str]:
    """(embedder, "") when usable, else (None, why it is skipped)."""
    provider, model = spec.split(":", 1)
    if provider.lower() == "openai-compatible":
        if not settings.base_url:
            return None, "set compare.api_base_url to the server's /v1 URL to include it"
        entry = CatalogEntry(name=spec, kind="api", license="unknown", dim=None, max_seq_length=None,
                             base_url=settings.base_url, api_key_env=settings.api_key_env)
    else:
        entry = api_entry(spec)
    if not entry.supported:
        return None, entry.notes
    key_env = entry.api_key_env or settings.api_key_env
    api_key = os.environ.get(key_env, "")
    if not api_key:
        return None, f"no API key: set the environment variable {key_env} to include it"
    return ApiEmbedder(entry, model, api_key, entry.base_url, settings), ""


def timed_encode(embedder: ApiEmbedder, texts: Sequence[str], prompt: str = "") -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    embeddings = embedder.encode(texts, prompt)
    seconds = time.perf_counter() - started
    logger.info("%s: %d texts in %.1fs (%d requests)", embedder.entry.name, len(texts), seconds, embedder.requests)
    return embeddings, seconds
