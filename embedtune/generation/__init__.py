"""Synthetic query generation: from chunks to (query, passage) pairs with hard negatives.

A run goes: `make_generator(config)` picks a backend -> `QueryGenerator.generate(chunks, n)` writes
queries -> `filters.build_pairs` / `filters.filter_pairs` / `filters.round_trip_filter` keep the good
pairs -> `negatives.mine_negatives` adds a hard negative to each.

Modules:
- `base`: the contract (`QueryGenerator`, `GeneratedQuery`, query styles);
- `backends`: the backends by name (`BACKENDS`) and `make_generator`;
- `prompts`: the LLM prompt and answer schema (`PROMPT_VERSION`);
- `parsing`: reading the query out of an LLM answer;
- `runner`: running a distilabel LLM over the prompts (modes, failures); `journal`: its resume journal;
  `distilabel_pipeline`: its pipeline mode;
- `heuristic`: the no-LLM backend; `gguf`: the packaged llama.cpp model;
- `filters`: pairs and their quality filters; `negatives`: hard-negative mining.
"""

from embedtune.generation.backends import make_generator
from embedtune.generation.base import GeneratedQuery, QueryGenerator

__all__ = ["GeneratedQuery", "QueryGenerator", "make_generator"]
