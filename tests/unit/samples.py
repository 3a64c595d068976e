"""Small in-memory data shared by unit tests of several packages (no files, no models)."""

from __future__ import annotations

from embedtune.generation import GeneratedQuery

# A five-passage retrieval benchmark: three queries, each with one relevant passage.
QUERIES = {"q1": "how do pods share storage", "q2": "proof sourdough overnight", "q3": "pulsar radio beams"}
CORPUS = {
    "kube": "A pod groups containers that share storage and a network namespace.",
    "bread": "Proof the sourdough overnight in the fridge and bake it in a dutch oven.",
    "star": "Pulsars are rotating neutron stars whose radio beams sweep past the earth.",
    "chess": "The Sicilian defence answers e4 with c5.",
    "fund": "An index fund holds every stock of a market index.",
}
QRELS = {"q1": {"kube": 1}, "q2": {"bread": 1}, "q3": {"star": 1}}

# One chunk of the guide and a generated query for it.
PASSAGE = (
    "ZenML caches a step when its code, parameters and inputs are unchanged, so a second run of the same "
    "pipeline finishes in seconds and reuses every artifact from the first run."
)
CHUNKS = [{"chunk_id": "c1", "doc_id": "d1", "text": PASSAGE, "title": "Caching"}]


def generated(query, chunk="c1", style="question"):
    return GeneratedQuery(chunk_id=chunk, query=query, style=style, generator="fake", prompt_version="t", raw=str(query))


# A training triplet as `mine_negatives` writes it, and the chunk it came from (curation).
def make_pair(index: int, negative: bool = True, positive_score: float = 0.62, negative_score: float = 0.41) -> dict:
    return {
        "id": f"pair{index}",
        "query": f"how do pods share storage {index}",
        "positive": f"A pod groups containers that share storage {index}.",
        "positive_id": f"chunk{index}",
        "doc_id": "kubernetes",
        "generator": "qwen2.5-coder-1.5b",
        "style": "question",
        "negative": f"Sourdough rises because yeast ferments {index}." if negative else None,
        "negative_id": f"neg{index}" if negative else None,
        "positive_score": positive_score,
        "negative_score": negative_score if negative else None,
    }


CHUNK = {"chunk_id": "chunk0", "source": "docs/kubernetes.md", "n_tokens": 42}
