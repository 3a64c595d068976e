"""Gemini embeddings (gemini-embedding-001, embedding-001) through `batchEmbedContents`, with `taskType`
RETRIEVAL_QUERY / RETRIEVAL_DOCUMENT.

Format (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents, read 2026-12):
    POST {base}/v1beta/models/{model}:batchEmbedContents, `x-goog-api-key: KEY`
    {"requests": [{"model": "models/{model}", "content": {"parts": [{"text": ...}]},
                   "taskType": "RETRIEVAL_QUERY" | "RETRIEVAL_DOCUMENT", "outputDimensionality": D}]}
    -> {"embeddings": [{"values": [...]}]}   (in request order; no token count)
    errors: {"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED"}}
Limits: at most 100 requests per batch, 2,048 tokens per text. Tokens are estimated from characters
(the answer reports none). The OpenAI-compatible Gemini endpoint sends no task type: not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from embedtune.models.api.base import ApiEmbedder, InputType
from embedtune.models.api.transport import Endpoint


class GeminiEmbedder(ApiEmbedder):
    provider = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    max_batch = 100
    max_batch_tokens = 100 * 2048
    input_types: ClassVar[Mapping[str, str]] = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}
    source = "https://ai.google.dev/api/embeddings"

    @property
    def _model_path(self) -> str:
        return self.model if self.model.startswith("models/") else f"models/{self.model}"

    def endpoint(self) -> Endpoint:
        return Endpoint(f"{self.base_url}/v1beta/{self._model_path}:batchEmbedContents", {"x-goog-api-key": self._key})

    def request_body(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        requests = []
        for text in texts:
            request: dict[str, Any] = {"model": self._model_path, "content": {"parts": [{"text": text}]},
                                       "taskType": self.input_types[input_type]}
            if self.settings.dimensions:
                request["outputDimensionality"] = int(self.settings.dimensions)
            requests.append(request)
        return {"requests": requests}

    def parse(self, body: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
        return [item["values"] for item in body.get("embeddings") or []], None
