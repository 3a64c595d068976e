"""Test doubles shared by the generation tests: chunks and a fake distilabel LLM."""

from __future__ import annotations

import json
from typing import Any

from distilabel.models.llms.base import LLM
from distilabel.models.llms.utils import prepare_output
from pydantic import validate_call

CHUNKS = [
    {
        "chunk_id": "doc-a#0",
        "title": "Artifact stores",
        "text": "An artifact store keeps every output of a pipeline step. Configure an S3 bucket as the "
        "artifact store with zenml artifact-store register.",
    },
    {
        "chunk_id": "doc-b#0",
        "title": "Step caching",
        "text": "Steps are cached when code and inputs are unchanged. Disable caching with enable_cache=False.",
    },
    {"chunk_id": "doc-c#0", "title": "", "text": "GARBAGE chunk that makes the fake model answer nonsense."},
]


class FakeLLM(LLM):
    """Answers JSON naming the passage's first word; nonsense for passages containing GARBAGE."""

    def load(self) -> None:
        super().load()

    @property
    def model_name(self) -> str:
        return "fake-llm"

    @validate_call
    def generate(  # no **kwargs: distilabel would demand a runtime parameter named `kwargs`
        self, inputs: list[Any], num_generations: int = 1, max_new_tokens: int = 64, temperature: float = 0.0
    ) -> list[Any]:
        outputs = []
        for messages in inputs:
            user = messages[-1]["content"]
            first_word = user.split("Passage:\n", 1)[1].split()[0]
            if "GARBAGE" in user:
                text = "I refuse {not json"
            elif "as JSON with these keys:" in user:  # a per-chunk prompt: one answer per listed key
                keys = [line[2:].split(":", 1)[0] for line in user.splitlines() if line.startswith("- ")]
                text = json.dumps({key: f"{key.replace('_', ' ')} about {first_word.lower()}" for key in keys})
            elif "keyword" in user.lower():
                text = f'```json\n{{"query": "{first_word.lower()} keywords"}}\n```'
            else:
                text = json.dumps({"query": f"What does {first_word} mean?"})
            outputs.append(prepare_output([text], input_tokens=[len(user) // 4], output_tokens=[9]))
        return outputs
