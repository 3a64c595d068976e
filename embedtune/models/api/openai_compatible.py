"""OpenAI `/v1/embeddings` and any server speaking it (vLLM, TEI, Ollama, LiteLLM ...).

Format (https://platform.openai.com/docs/api-reference/embeddings/create, read 2026-12 through
https://developers.openai.com/api/reference/resources/embeddings.md):
    POST {base}/embeddings, `Authorization: Bearer KEY`
    {"model": M, "input": [texts], "encoding_format": "float", "dimensions": D (text-embedding-3-* only)}
    -> {"data": [{"index": i, "embedding": [...]}], "usage": {"prompt_tokens": N, "total_tokens": N}}
    errors: {"error": {"message": ..., "type": ..., "code": ...}}
Limits: at most 2048 inputs and 300,000 tokens summed over the inputs of one request; no query/document
type (OpenAI's models embed both alike).
"""

from __future__ import annotations

from typing import Any

from embedtune.models.api.base import ApiEmbedder, InputType
from embedtune.models.api.transport import Endpoint

OPENAI_SOURCE = "https://developers.openai.com/api/reference/resources/embeddings.md"


class OpenAICompatibleEmbedder(ApiEmbedder):
    provider = "openai-compatible"
    default_base_url = ""
    key_envs = ("EMBEDTUNE_EMBEDDINGS_API_KEY",)
    max_batch = 2048
    max_batch_tokens = 150_000  # half the API's 300k: our token count is an estimate
    source = OPENAI_SOURCE

    def endpoint(self) -> Endpoint:
        return Endpoint(f"{self.base_url}/embeddings", {"Authorization": f"Bearer {self._key}"})

    def request_body(self, texts: list[str], input_type: InputType) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.settings.dimensions:
            body["dimensions"] = int(self.settings.dimensions)
        return body

    def parse(self, body: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
        ordered = sorted(body.get("data") or [], key=lambda item: item.get("index", 0))  # `index` decides
        usage = body.get("usage") or {}
        tokens = usage.get("prompt_tokens") or usage.get("total_tokens")
        return [item["embedding"] for item in ordered], (int(tokens) if tokens is not None else None)


class OpenAIEmbedder(OpenAICompatibleEmbedder):
    provider = "openai"
    default_base_url = "https://api.openai.com/v1"
    key_envs = ("OPENAI_API_KEY",)
