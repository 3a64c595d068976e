"""Voyage AI embeddings (voyage-3.5, voyage-3-large ...), with `input_type` query / document.

Format (https://docs.voyageai.com/reference/embeddings-api, its OpenAPI definition, read 2026-12):
    POST {base}/v1/embeddings, `Authorization: Bearer KEY`
    {"input": [texts], "model": M, "input_type": "query" | "document", "truncation": true,
     "output_dimension": 256|512|1024|2048}
    -> {"object": "list", "data": [{"embedding": [...], "index": i}], "usage": {"total_tokens": N}}
    errors: {"detail": ...}
Limits: at most 1,000 texts per request, and 320K tokens (voyage-3.5), 1M (-lite) or 120K (-large)
summed over them: we stay under the smallest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from embedtune.models.api.base import ApiEmbedder, InputType
from embedtune.models.api.transport import Endpoint


class VoyageEmbedder(ApiEmbedder):
    provider = "voyage"
    default_base_url = "https://api.voyageai.com"
    key_envs = ("VOYAGE_API_KEY",)
    max_batch = 1000
    max_batch_tokens = 60_000  # half the smallest per-request limit (120K): our count is an estimate
    input_types: ClassVar[Mapping[str, str]] = {"query": "query", "document": "document"}
    source = "https://docs.voyageai.com/reference/embeddings-api"

    def endpoint(self) -> Endpoint:
        return Endpoint(f"{self.base_url}/v1/embeddings", {"Authorization": f"Bearer {self._key}"})

    def request_body(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        body: dict[str, Any] = {"input": texts, "model": self.model, "input_type": self.input_types[input_type],
                                "truncation": True}
        if self.settings.dimensions:
            body["output_dimension"] = int(self.settings.dimensions)
        return body

    def parse(self, body: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
        ordered = sorted(body.get("data") or [], key=lambda item: item.get("index", 0))
        tokens = (body.get("usage") or {}).get("total_tokens")
        return [item["embedding"] for item in ordered], (int(tokens) if tokens is not None else None)
