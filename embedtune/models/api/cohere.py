"""Cohere Embed (v4 and v3) through its own v2 API, with `input_type` search_query / search_document.

Format (https://docs.cohere.com/reference/embed, read 2026-12; also
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v4.html for the v4 fields):
    POST {base}/v2/embed, `Authorization: Bearer KEY`
    {"model": "embed-v4.0", "texts": [...], "input_type": "search_query" | "search_document",
     "embedding_types": ["float"], "output_dimension": 256|512|1024|1536 (v4), "truncate": "END"}
    -> {"id": ..., "embeddings": {"float": [[...]]}, "texts": [...],
        "meta": {"billed_units": {"input_tokens": N}}}
    errors: {"message": ...}
Limits: at most 96 texts per call. Cohere's OpenAI compatibility endpoint sends no input_type, which v3+
models need for good retrieval: this client uses the native API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from embedtune.models.api.base import ApiEmbedder, InputType
from embedtune.models.api.transport import Endpoint


class CohereEmbedder(ApiEmbedder):
    provider = "cohere"
    default_base_url = "https://api.cohere.com"
    key_envs = ("CO_API_KEY", "COHERE_API_KEY")
    max_batch = 96
    max_batch_tokens = 100_000
    input_types: ClassVar[Mapping[str, str]] = {"query": "search_query", "document": "search_document"}
    source = "https://docs.cohere.com/reference/embed"

    def endpoint(self) -> Endpoint:
        return Endpoint(f"{self.base_url}/v2/embed", {"Authorization": f"Bearer {self._key}"})

    def request_body(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "texts": texts, "input_type": self.input_types[input_type],
                                "embedding_types": ["float"], "truncate": "END"}
        if self.settings.dimensions:
            body["output_dimension"] = int(self.settings.dimensions)
        return body

    def parse(self, body: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
        embeddings = body.get("embeddings") or {}
        vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings  # v1: a bare list
        billed = ((body.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
        return list(vectors or []), (int(billed) if billed is not None else None)
