"""Gold queries in the end-to-end pipeline: evaluated beside the synthetic ones, and the judge of promotion.

The gate is set so that the synthetic held-out queries pass it: `promotion.min_ndcg_gain` just under the
synthetic gain a first run measured (training and data are cached, so the second run's synthetic gain is the
same). The gold set is built to say "not better": each gold query is judged to be answered by the chunk the
*base* model ranks first where the tuned model ranks another first, so base ranks every gold passage first and
tuned does not. Promotion must follow gold.
"""

import pytest
import yaml
from zenml.client import Client
from zenml.enums import ExecutionStatus

from embedtune.config import parse_parameters
from embedtune.evaluation import promotion
from tests.conftest import write_corpus

pytestmark = pytest.mark.integration


def output(run, step, name):
    value = run.steps[step].outputs[name]
    return value[0] if isinstance(value, list) else value


def config_for(corpus, model_dir, **evaluation):
    return parse_parameters({
        "ingest": {"corpus": str(corpus)},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"queries_per_chunk": 2},
        "model": {"base_model": model_dir, "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100, **evaluation},
        "promotion": {"require_significant": False, "compare_with_incumbent": False},
    })


def base_first_where_tuned_differs(base, tuned, queries, chunks):
    """(query, chunk) for the queries whose top chunk differs between the two models: the base model's top one."""
    texts = [chunk["text"] for chunk in chunks]
    ranked = {}
    for name, model in (("base", base), ("tuned", tuned)):
        scores = model.encode(queries, normalize_embeddings=True) @ model.encode(texts, normalize_embeddings=True).T
        ranked[name] = scores.argmax(axis=1)
    return [(query, chunks[b]) for query, b, t in zip(queries, ranked["base"], ranked["tuned"]) if b != t]


@pytest.fixture(scope="module")
def gold_runs(zenml_repository, tmp_path_factory, tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    from pipelines import end_to_end
    from tests.conftest import TOPICS

    folder = tmp_path_factory.mktemp("gold")
    corpus = write_corpus(folder / "corpus")
    pipeline = end_to_end.with_options(model={"name": "embedtune-test-gold"})
    plain = Client().get_pipeline_run(pipeline(config=config_for(corpus, tiny_model_dir), corpus_fingerprint="g").id)
    synthetic_gain = output(plain, "evaluate", "evaluation_report").load()["gains"]["tuned"]["64"]["ndcg@10"]["gain"]
    chunks = output(plain, "chunk_documents", "chunks").load().to_dict("records")
    words = " ".join(TOPICS.values()).split()
    candidates = list(dict.fromkeys(" ".join(words[i:i + 5]) for i in range(0, len(words) - 5, 2)))
    tuned = output(plain, "train_embedder", "tuned_model").load()
    judged_pairs = base_first_where_tuned_differs(SentenceTransformer(tiny_model_dir), tuned, candidates, chunks)
    assert len(judged_pairs) >= 5, "too few queries where the models disagree to build the gold set"
    gold = [
        {"id": f"gold-{i}", "query": query, "doc": f"corpus/{chunk['source']}", "chunk": chunk["chunk_id"]}
        for i, (query, chunk) in enumerate(judged_pairs)
    ] + [{"id": "lost", "query": "a question about a page that is not there", "doc": "missing-page.md"}]
    gold_path = folder / "gold.yaml"  # outside the corpus folder
    gold_path.write_text(yaml.safe_dump(gold), encoding="utf-8")
    gate = {"min_ndcg_gain": synthetic_gain - 0.001}  # synthetic passes it by construction
    config = config_for(corpus, tiny_model_dir, gold=str(gold_path), gold_min_queries=5)
    config.promotion.min_ndcg_gain = gate["min_ndcg_gain"]
    judged = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="g").id)
    too_small = config_for(corpus, tiny_model_dir, gold=str(gold_path), gold_min_queries=1000)
    too_small.promotion.min_ndcg_gain = gate["min_ndcg_gain"]
    fallback = Client().get_pipeline_run(pipeline(config=too_small, corpus_fingerprint="g").id)
    return {"plain": plain, "judged": judged, "fallback": fallback, "gold": gold, "config": config}


def test_synthetic_says_better_gold_says_not_better_and_promotion_follows_gold(gold_runs):
    run = gold_runs["judged"]
    assert run.status == ExecutionStatus.COMPLETED
    report = output(run, "evaluate", "evaluation_report").load()
    synthetic_gain = report["gains"]["tuned"]["64"]["ndcg@10"]
    synthetic_only = {key: value for key, value in report.items() if key != "gold"}
    synthetic_says, why = promotion.decide(synthetic_only, gold_runs["config"].promotion)
    assert synthetic_says is True, f"synthetic must say better: {synthetic_gain} ({why})"
    gold = report["gold"]
    assert gold["n_queries"] == len(gold_runs["gold"]) - 1 and gold["too_small"] is False
    assert gold["models"]["base"]["64"]["ndcg@10"] > gold["models"]["tuned"]["64"]["ndcg@10"]
    assert gold["gains"]["tuned"]["64"]["ndcg@10"]["gain"] < synthetic_gain["gain"] - 0.001
    assert set(gold["models"]["tuned"]) == {"64", "32"}, "gold is scored per Matryoshka dimension too"
    assert gold["unmapped_count"] == 1 and gold["unmapped"][0]["reason"] == "no document 'missing-page.md' in the corpus"
    assert report["decided_on"] == "gold"

    decision = output(run, "promote", "promotion").load()
    assert decision["promoted"] is False and decision["decided_on"] == "gold"
    assert "does not exceed promotion.min_ndcg_gain" in decision["reason"]
    assert decision["reason"].endswith(f"decided on {gold['n_queries']} gold queries")
    assert run.model_version.stage is None


def test_training_and_data_are_untouched_by_the_gold_set(gold_runs):
    plain, judged = gold_runs["plain"], gold_runs["judged"]
    for step in ("generate_queries", "split_by_document", "train_embedder"):
        assert judged.steps[step].status == ExecutionStatus.CACHED, step
    gold_artifact = output(judged, "load_gold", "gold_queries")
    consumers = {
        name for name, step in judged.steps.items()
        for inputs in step.inputs.values()
        for artifact in (inputs if isinstance(inputs, list) else [inputs])
        if artifact.id == gold_artifact.id
    }
    assert consumers == {"evaluate", "promote"}, "gold reaches only evaluation and the promotion decision"
    assert "load_gold" not in plain.steps
    rows = gold_artifact.load()
    assert len(rows) == len(gold_runs["gold"]) and gold_artifact.run_metadata["queries"] == len(gold_runs["gold"])
    pairs = output(judged, "mine_negatives", "training_triplets").load()
    assert not set(pairs["query"]) & {entry["query"] for entry in gold_runs["gold"]}


def test_model_version_and_html_report_show_both(gold_runs):
    run = gold_runs["judged"]
    metadata = Client().get_pipeline_run(run.id).model_version.run_metadata
    assert {"base_ndcg@10", "tuned_ndcg@10", "gold_base_ndcg@10", "gold_tuned_ndcg@10", "gold_ndcg@10_gain"} <= set(metadata)
    assert metadata["decided_on"] == "gold" and metadata["gold_queries"] == len(gold_runs["gold"]) - 1
    page = output(run, "evaluate", "evaluation_html").load()
    assert "Held-out synthetic queries" in page and "Gold queries (human-judged)" in page
    assert "Promotion decides on gold (human-judged) queries" in page and "missing-page.md" in page


def test_a_gold_set_too_small_to_decide_falls_back_to_synthetic_and_says_so(gold_runs):
    run = gold_runs["fallback"]
    report = output(run, "evaluate", "evaluation_report").load()
    assert report["gold"]["too_small"] is True and report["decided_on"] == "synthetic"
    decision = output(run, "promote", "promotion").load()
    assert decision["promoted"] is True and decision["decided_on"] == "synthetic"
    assert "too small to decide" in decision["reason"] and "held-out synthetic queries" in decision["reason"]
    assert run.steps["train_embedder"].status == ExecutionStatus.CACHED


def run_cli(*args):
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run.py"), *args], cwd=PROJECT_ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600, check=False)


def one_error_line(result, expected):
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout


def test_leaks_and_missing_gold_sets_stop_the_run_with_one_error_line(zenml_repository, tmp_path, tiny_model_dir):
    corpus = write_corpus(tmp_path / "corpus")
    gold = tmp_path / "gold.yaml"
    gold.write_text(yaml.safe_dump([{"query": "what is a pulsar", "doc": "astronomy.md"}]), encoding="utf-8")

    def config(**parameters):
        path = tmp_path / "config.yaml"
        base = {"ingest": {"corpus": str(corpus)}, "model": {"base_model": tiny_model_dir, "matryoshka_dims": [64]},
                "generation": {"backend": "heuristic"}}
        path.write_text(yaml.safe_dump({"parameters": {**base, **parameters}}), encoding="utf-8")
        return str(path)

    few_shot = config(evaluation={"gold": str(gold)}, generation={"backend": "heuristic", "example_queries": str(gold)})
    one_error_line(run_cli("run", "--config", few_shot), "is the gold set (evaluation.gold): gold queries must never reach generation")
    missing = config(evaluation={"gold": str(tmp_path / "typo.yaml")})
    one_error_line(run_cli("run", "--config", missing), "gold set not found")
    inside = corpus / "gold.jsonl"  # a JSONL file in the corpus would be ingested as a document
    inside.write_text('{"query": "what is a pulsar", "doc": "astronomy.md"}\n', encoding="utf-8")
    outside_then_inside = config(evaluation={"gold": str(inside)}, ingest={"corpus": str(tmp_path / "elsewhere")})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.md").write_text("# A\n\nsome text about pulsars and neutron stars\n", encoding="utf-8")
    one_error_line(run_cli("run", "--config", outside_then_inside, "--corpus", str(corpus)), "is inside the corpus")
