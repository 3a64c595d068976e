"""The real thing, slowly: MiniLM fine-tuned on this project's own docs, and the real local LLM
generating inside a ZenML step."""

import pytest
from zenml.client import Client

from embedtune.config import load_run_config
from embedtune.data.ingest import corpus_fingerprint
from tests.conftest import PROJECT_ROOT, write_corpus

pytestmark = pytest.mark.slow


def output(run, step, name):
    value = run.steps[step].outputs[name]
    return value[0] if isinstance(value, list) else value


def test_minilm_tuned_on_the_user_guide_beats_the_base_model_on_held_out_queries(zenml_repository):
    """The default config (bundled MiniLM, docs/ corpus), with the instant heuristic generator so CI
    stays within budget; the LLM generator is exercised below and in test_local_generator.py."""
    from pipelines import end_to_end

    config, _ = load_run_config(PROJECT_ROOT / "configs" / "default.yaml")
    config.ingest.corpus = str(PROJECT_ROOT / "docs")
    config.generation.backend = "heuristic"
    config.training.epochs = 1
    run = end_to_end.with_options(model={"name": "embedtune-slow"})(
        config=config, corpus_fingerprint=corpus_fingerprint(config.ingest)
    )
    run = Client().get_pipeline_run(run.id)
    report = output(run, "evaluate", "evaluation_report").load()
    base, tuned = report["models"]["base"]["384"]["ndcg@10"], report["models"]["tuned"]["384"]["ndcg@10"]
    assert report["n_queries"] >= 50
    assert tuned > base, f"tuned {tuned:.4f} did not beat base {base:.4f}"


def test_local_llm_generates_inside_a_zenml_step(zenml_repository, tmp_path):
    """distilabel + llama.cpp inside a real ZenML step (the signal-handler trap) on two chunks."""
    from pipelines import generate_data

    config, _ = load_run_config(PROJECT_ROOT / "configs" / "default.yaml")
    config.ingest.corpus = str(write_corpus(tmp_path / "corpus", repeats=1))
    config.generation.backend = "llamacpp"
    config.generation.max_chunks = 2
    config.generation.queries_per_chunk = 2
    config.generation.cache_dir = str(tmp_path / "generation-cache")
    run = Client().get_pipeline_run(generate_data(config=config, corpus_fingerprint="llm").id)
    pairs = output(run, "generate_queries", "synthetic_pairs").load()
    assert len(pairs) == 4
    assert pairs["generator"].str.startswith("llamacpp:").all()
    assert pairs["query"].notna().sum() >= 3
    usage = output(run, "generate_queries", "synthetic_pairs").run_metadata
    assert usage["pairs"] == 4 and usage.get("completion_tokens", 0) > 0
