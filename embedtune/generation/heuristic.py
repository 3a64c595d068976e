"""The no-LLM fallback generator: extractive pseudo-queries, instant and fully offline.

A "keyword" query is the chunk's most distinctive terms (TF-IDF against the other chunks); a "question"
is built from the chunk's heading or title plus distinctive terms of one of its sentences; a "claim" is
the content words of one sentence, in order (a telegraphic statement). It is a
smoke-test and last-resort backend: an LLM backend writes far more realistic queries.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from embedtune.config import GenerationConfig
from embedtune.data.text import content_words
from embedtune.generation.base import GeneratedQuery, QueryGenerator, style_for

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_QUESTION_OPENERS = ("how do I", "how to", "what is", "where can I find", "why")


class HeuristicGenerator(QueryGenerator):
    name = "heuristic"
    prompt_version = "heuristic-v1"

    def __init__(self, config: GenerationConfig):
        self.seed = config.seed
        self.styles = config.query_styles

    def generate(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> list[GeneratedQuery]:
        document_frequency = Counter()
        for chunk in chunks:
            document_frequency.update(set(content_words(chunk["text"])))
        n_chunks = max(len(chunks), 1)

        def distinctive(text: str, k: int, rng: random.Random) -> list[str]:
            counts = Counter(content_words(text))
            scored = sorted(
                counts, key=lambda w: -counts[w] * math.log((1 + n_chunks) / (1 + document_frequency[w]))
            )
            top = scored[: k + 2]
            rng.shuffle(top)
            return top[:k]

        rows = []
        for chunk in chunks:
            rng = random.Random(f"{self.seed}:{chunk['chunk_id']}")
            for index in range(queries_per_chunk):
                style = style_for(index, self.styles)
                if style == "question":
                    query = self._question(chunk, rng, distinctive)
                elif style == "claim":
                    query = self._claim(chunk, rng)
                else:
                    query = " ".join(distinctive(chunk["text"], 4, rng))
                rows.append(
                    GeneratedQuery(
                        chunk_id=chunk["chunk_id"],
                        query=query.strip() or None,
                        style=style,
                        generator=self.name,
                        prompt_version=self.prompt_version,
                        raw=query,
                    )
                )
        return rows

    @staticmethod
    def _question(chunk: dict[str, Any], rng: random.Random, distinctive) -> str:
        headings = _HEADING.findall(chunk["text"])
        topic = (rng.choice(headings) if headings else chunk.get("title") or "").strip().lower()
        sentences = [s for s in _SENTENCE.split(chunk["text"]) if len(content_words(s)) >= 3]
        focus = distinctive(rng.choice(sentences), 3, rng) if sentences else []
        opener = rng.choice(_QUESTION_OPENERS)
        return f"{opener} {topic} {' '.join(focus)}".strip() + "?"

    @staticmethod
    def _claim(chunk: dict[str, Any], rng: random.Random, max_words: int = 8) -> str:
        sentences = [s for s in _SENTENCE.split(chunk["text"]) if len(content_words(s)) >= 4]
        return " ".join(content_words(rng.choice(sentences))[:max_words]) if sentences else ""
