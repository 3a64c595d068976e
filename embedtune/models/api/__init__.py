"""Embedders behind an API: Voyage, Cohere, Gemini, OpenAI and any OpenAI-compatible server.

A model named `provider:model` (`openai:text-embedding-3-large`, `cohere:embed-v4.0`, `voyage:voyage-3.5`,
`gemini:gemini-embedding-001`, or `openai-compatible:MODEL` with `compare.api_base_url`) resolves to a
client here, one module per provider:

| provider | module | key (environment) | query / document type sent | per request |
|---|---|---|---|---|
| `openai` | `openai_compatible` | `OPENAI_API_KEY` | none (the API has none) | 2048 texts |
| `openai-compatible` | `openai_compatible` | `compare.api_key_env` | none | 2048 texts |
| `cohere` | `cohere` | `CO_API_KEY` | `input_type` search_query / search_document | 96 texts |
| `gemini` | `gemini` | `GEMINI_API_KEY` | `taskType` RETRIEVAL_QUERY / RETRIEVAL_DOCUMENT | 100 texts |
| `voyage` | `voyage` | `VOYAGE_API_KEY` | `input_type` query / document | 1000 texts |

Keys are read from the environment only, when the client is made, and never logged, stored or
written to an artifact (`embedtune.util.redact.register_secret`). The base URL of a provider can be
changed (a gateway, a loopback test server) with `EMBEDTUNE_<PROVIDER>_BASE_URL` (OpenAI also reads
`OPENAI_BASE_URL`) or `ApiSettings.base_urls`.

- `compare` skips a candidate whose key is not set, with the reason in the leaderboard.
- `evaluate` (and anything calling `api_embedder`) fails with one line instead: an API model is never
  replaced by a default.

Example:
    >>> from embedtune.models.api import ApiSettings, api_embedder
    >>> embedder = api_embedder("voyage:voyage-3.5", ApiSettings())  # needs $VOYAGE_API_KEY
    >>> embedder.check_budget(queries, passages)   # logs the estimate; refuses above max_cost_usd
    >>> q = embedder.encode(queries, input_type="query")
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embedtune import logger
from embedtune.models.api.base import ApiEmbedder, ApiSettings, InputType, require_key
from embedtune.models.api.cohere import CohereEmbedder
from embedtune.models.api.gemini import GeminiEmbedder
from embedtune.models.api.openai_compatible import OpenAICompatibleEmbedder, OpenAIEmbedder
from embedtune.models.api.pricing import PRICES, PRICES_DATE, CostEstimate, estimate_cost, estimate_tokens
from embedtune.models.api.transport import ApiAuthError, ApiError, ApiRequestError, ApiRetriesExhausted
from embedtune.models.api.voyage import VoyageEmbedder
from embedtune.models.catalog import CatalogEntry, lookup

if TYPE_CHECKING:
    from embedtune.config import CompareConfig

PROVIDERS: dict[str, type[ApiEmbedder]] = {
    cls.provider: cls
    for cls in (OpenAIEmbedder, OpenAICompatibleEmbedder, CohereEmbedder, GeminiEmbedder, VoyageEmbedder)
}


def api_entry(spec: str) -> CatalogEntry:
    """The catalog entry of an API spec; unknown models of a known provider get an entry without dims."""
    entry = lookup(spec)
    if entry is not None:
        return entry
    provider, model = spec.split(":", 1)
    known = {e.name.split(":", 1)[0]: e for e in _api_entries()}
    template = known.get(provider.lower())
    return CatalogEntry(
        name=spec, kind="api", license="proprietary (API terms)" if template else "unknown", dim=None,
        max_seq_length=template.max_seq_length if template else None,
        api_key_env=template.api_key_env if template else "",
        notes=f"not in the catalog ({model}): dimension taken from the first answer",
    )


def _api_entries() -> list[CatalogEntry]:
    from embedtune.models.catalog import ENTRIES

    return [entry for entry in ENTRIES if entry.is_api]


def settings_from_config(config: CompareConfig | None) -> ApiSettings:
    """The `compare:` section's `api_*` keys as `ApiSettings` (used by `compare` and `evaluate` alike)."""
    if config is None:
        return ApiSettings()
    return ApiSettings(
        base_url=config.api_base_url, api_key_env=config.api_key_env, batch_size=config.api_batch_size,
        max_retries=config.api_max_retries, timeout_s=config.api_timeout_s, dimensions=config.api_dimensions,
        max_cost_usd=config.api_max_cost_usd, prices=dict(config.api_prices),
    )


def base_url_for(provider: str, settings: ApiSettings) -> str:
    """`ApiSettings.base_urls`, else $EMBEDTUNE_<PROVIDER>_BASE_URL (and $OPENAI_BASE_URL for OpenAI), else
    the provider's own URL; `compare.api_base_url` for `openai-compatible`."""
    if provider == "openai-compatible":
        return settings.base_urls.get(provider) or settings.base_url or ""
    variable = f"EMBEDTUNE_{provider.upper().replace('-', '_')}_BASE_URL"
    candidates = [settings.base_urls.get(provider), os.environ.get(variable)]
    if provider == "openai":
        candidates.append(os.environ.get("OPENAI_BASE_URL"))
    return next((url for url in candidates if url), PROVIDERS[provider].default_base_url)


def api_embedder(spec: str, settings: ApiSettings | None = None) -> ApiEmbedder:
    """The client for `provider:model`, its key read from the environment now.

    Raises:
        ApiError: unknown provider, `openai-compatible` without a base URL, or no key set (one line
            naming the variable to set).
    """
    settings = settings or ApiSettings()
    if ":" not in spec:
        raise ApiError(f"{spec!r} is not an API model (provider:model)")
    provider, model = spec.split(":", 1)
    provider = provider.lower()
    if provider not in PROVIDERS:
        raise ApiError(f"{spec}: unknown API provider {provider!r}; choose from {', '.join(sorted(PROVIDERS))}")
    cls = PROVIDERS[provider]
    base_url = base_url_for(provider, settings)
    if not base_url:
        raise ApiError(f"{spec}: set compare.api_base_url to the server's /v1 URL to include it")
    names = (settings.api_key_env,) if provider == "openai-compatible" else cls.key_envs
    key, key_env = require_key(spec, names)
    entry = api_entry(spec) if provider != "openai-compatible" else None
    return cls(spec, model, key, key_env, base_url, settings, entry)


def make_api_embedder(spec: str, settings: ApiSettings) -> tuple[ApiEmbedder | None, str]:
    """(embedder, "") when usable, else (None, why it is skipped): for `compare`, which skips."""
    try:
        return api_embedder(spec, settings), ""
    except ApiError as error:
        return None, str(error).split(": ", 1)[-1] if str(error).startswith(spec) else str(error)


def check_api_models(names: Sequence[str], settings: ApiSettings | None = None) -> None:
    """Fail before any work when an API model among `names` cannot run (unknown provider, no key set);
    local names are left to the loader."""
    from embedtune.models.catalog import is_api_spec

    for name in names:
        if is_api_spec(name):
            api_embedder(name, settings)


def is_api_embedder(model: object) -> bool:
    return isinstance(model, ApiEmbedder)


def timed_encode(embedder: ApiEmbedder, texts: Sequence[str], prompt: str = "",
                 input_type: InputType = "document") -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    embeddings = embedder.encode(texts, prompt, input_type)
    seconds = time.perf_counter() - started
    logger.info("%s: %d texts in %.1fs (%d requests)", embedder.spec, len(texts), seconds, embedder.requests)
    return embeddings, seconds


__all__ = [
    "PRICES", "PRICES_DATE", "PROVIDERS", "ApiAuthError", "ApiEmbedder", "ApiError", "ApiRequestError",
    "ApiRetriesExhausted", "ApiSettings", "CohereEmbedder", "CostEstimate", "GeminiEmbedder", "InputType",
    "OpenAICompatibleEmbedder", "OpenAIEmbedder", "VoyageEmbedder", "api_embedder", "api_entry", "base_url_for",
    "check_api_models", "estimate_cost", "estimate_tokens", "is_api_embedder", "make_api_embedder",
    "settings_from_config", "timed_encode",
]
