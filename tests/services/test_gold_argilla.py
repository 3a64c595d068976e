"""The gold round trip through a real Argilla 2.8 server, through the CLI as a user runs it: `run` (a tuned model to
retrieve with), `curate gold push --queries FILE`, an annotator marks the relevant passages through the SDK,
`curate gold pull` (the `gold_queries` artifact and a gold file), then `finetune` evaluates and decides on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from zenml.client import Client

from tests.conftest import PROJECT_ROOT, TOPICS, write_corpus
from tests.services.argilla_server import WORKSPACE, start_server, stop_server

pytestmark = [pytest.mark.services, pytest.mark.slow]

DATASET = "embedtune-test-gold"
QUERIES = {  # real-looking questions, one per topic; the annotator marks passages of that topic as relevant
    "kubernetes": "which containers share a network namespace",
    "baking": "how often should I feed a sourdough starter",
    "astronomy": "what is a pulsar",
    "gardening": "why pinch tomato suckers",
    "finance": "how often should a portfolio be rebalanced",
    "chess": "what does black aim for in the sicilian",
}


@pytest.fixture(scope="module")
def argilla(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("argilla-gold-home"))
    try:
        yield server
    finally:
        stop_server(server)


def run_cli(*args, server, timeout=900):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    env.update(ARGILLA_API_URL=server.url, ARGILLA_API_KEY=server.api_key, ZENML_LOGGING_VERBOSITY="INFO")
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
        text=True, timeout=timeout, check=False,
    )


def write_config(path: Path, corpus: Path, model_dir: str, gold: Path | None = None) -> Path:
    parameters = {
        "ingest": {"corpus": str(corpus)},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"backend": "heuristic", "queries_per_chunk": 2},
        "model": {"base_model": model_dir, "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100, **({"gold": str(gold), "gold_min_queries": 3} if gold else {})},
        "curation": {"gold_dataset": DATASET, "gold_candidates": 3},
    }
    path.write_text(yaml.safe_dump({"enable_cache": True, "model": {"name": "embedtune-gold-test"},
                                    "parameters": parameters}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pushed(argilla, zenml_repository, tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gold-services")
    corpus = write_corpus(folder / "corpus")
    config = write_config(folder / "config.yaml", corpus, tiny_model_dir)
    trained = run_cli("run", "--config", str(config), server=argilla)
    assert trained.returncode == 0, trained.stderr[-3000:]
    queries = folder / "search-log.txt"
    queries.write_text("# exported from the search box\n" + "\n".join(QUERIES.values()) + "\n", encoding="utf-8")
    result = run_cli("curate", "gold", "push", "--queries", str(queries), "--config", str(config), server=argilla)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"folder": folder, "corpus": corpus, "config": config, "result": result}


def test_push_makes_one_record_per_query_with_pooled_passages_of_base_and_tuned(argilla, pushed):
    import argilla as rg

    assert f"Pushed {len(QUERIES)} queries to Argilla dataset '{DATASET}' ({len(QUERIES)} new, 0 updated)" in pushed["result"].stdout
    assert "from base, tuned." in pushed["result"].stdout
    dataset = rg.Argilla(api_url=argilla.url, api_key=argilla.api_key).datasets(DATASET, workspace=WORKSPACE)
    records = list(dataset.records)
    assert sorted(record.fields["query"] for record in records) == sorted(QUERIES.values())
    for record in records:
        table = record.metadata["candidates"]
        assert 3 <= len(table) <= 6, "3 per model, pooled and de-duplicated"
        assert [entry.split("|")[0] for entry in table] == [str(n) for n in range(1, len(table) + 1)]
        assert all(f"**[{n}]**" in record.fields["passages"] for n in range(1, len(table) + 1))
    assert [q.name for q in dataset.settings.questions] == ["relevant_passages"]


@pytest.fixture(scope="module")
def annotated(argilla, pushed):
    """An annotator marks, per query, the passages of that query's topic (from the corpus file they come from)."""
    from argilla._models import UserResponseModel

    annotator = __import__("argilla").Argilla(api_url=argilla.url, api_key=argilla.add_user("goldannotator"))
    me = annotator.me
    owner = __import__("argilla").Argilla(api_url=argilla.url, api_key=argilla.api_key)
    dataset = owner.datasets(DATASET, workspace=WORKSPACE)
    topic_of = {query: topic for topic, query in QUERIES.items()}
    expected = {}
    for record in dataset.records:
        topic = topic_of[record.fields["query"]]
        marked = [entry.split("|")[0] for entry in record.metadata["candidates"] if f"|{topic}.md|" in entry]
        status = "submitted" if topic != "chess" else "discarded"  # one query the annotator cannot judge
        values = {"relevant_passages": {"value": marked or ["none"]}} if status == "submitted" else {}
        annotator.api.records.create_record_response(
            record._server_id, UserResponseModel(values=values, status=status, user_id=me.id)
        )
        if status == "submitted" and marked:
            expected[record.id] = {entry.split("|")[1] for entry in record.metadata["candidates"] if f"|{topic}.md|" in entry}
    assert len(expected) >= 3, "the candidates must include passages of the query's own topic"
    return expected


def test_pull_builds_the_gold_artifact_and_file_and_finetune_decides_on_it(argilla, pushed, annotated, tiny_model_dir):
    output = pushed["folder"] / "gold" / "pulled.yaml"
    result = run_cli("curate", "gold", "pull", "--config", str(pushed["config"]), "--output", str(output), server=argilla)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Gold set: {len(annotated)} queries" in result.stdout and str(output) in result.stdout
    artifact = Client().get_artifact_version("gold_queries")
    rows = artifact.load()
    assert set(rows["chunk"]) == set().union(*annotated.values())
    assert artifact.run_metadata["records"]["discarded"] == 1 and artifact.run_metadata["records"]["judged"] == len(annotated)
    written = yaml.safe_load(output.read_text(encoding="utf-8"))
    assert len(written) == len(annotated) and all(j["span"] and j["doc"].endswith(".md") for e in written for j in e["relevant"])

    config = write_config(pushed["folder"] / "with-gold.yaml", pushed["corpus"], tiny_model_dir, gold=output)
    tuned = run_cli("finetune", "--config", str(config), server=argilla)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    assert f"NDCG@10 on {len(annotated)} gold queries" in tuned.stdout
    assert f"decided on {len(annotated)} gold queries" in tuned.stdout
    run = Client().list_pipeline_runs(pipeline_name="embedtune_finetune", sort_by="desc:created", size=1).items[0]
    report = Client().get_pipeline_run(run.id).steps["evaluate"].outputs["evaluation_report"]
    report = (report[0] if isinstance(report, list) else report).load()
    assert report["gold"]["n_queries"] == len(annotated) and report["gold"]["unmapped_count"] == 0
    assert report["decided_on"] == "gold" and set(TOPICS)  # the pulled set judged this corpus
