"""benchmarks/generate_pairs.py: which recorded settings a set's generation may resume under."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from embedtune.config import FilterConfig

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "generate_pairs.py"
_spec = importlib.util.spec_from_file_location("generate_pairs", _PATH)
generate_pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate_pairs)


def settings(**filters):
    return {"benchmark": "scifact-dev", "queries_per_doc": 3, "seed": 42,
            "filters": {**FilterConfig().model_dump(), **filters}}


def test_a_filter_added_since_at_its_default_resumes_but_switched_on_does_not():
    recorded = settings()
    recorded["filters"].pop("max_word_overlap")  # a set started before the filter existed
    assert generate_pairs.same_settings(recorded, settings())
    assert not generate_pairs.same_settings(recorded, settings(max_word_overlap=0.8))


def test_parallel_may_change_and_anything_else_may_not():
    assert generate_pairs.same_settings(settings(), {**settings(), "parallel": 8})
    assert not generate_pairs.same_settings(settings(), {**settings(), "queries_per_doc": 4})
    assert not generate_pairs.same_settings(settings(), settings(min_query_words=3))
