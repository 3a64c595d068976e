"""`python run.py compare` as a user runs it: a BEIR folder or the latest held-out synthetic queries in
ZenML, the terminal table, JSON + markdown, and a run config that `finetune` can start from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from embedtune.config import load_run_config
from tests.conftest import PROJECT_ROOT, TOPICS
from tests.integration.test_cli import assert_clean_error

pytestmark = pytest.mark.integration


def run_cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        cwd=PROJECT_ROOT, env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout, check=False,
    )


def write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": name, "title": name.title(), "text": text} for name, text in TOPICS.items()]
    corpus += [{"_id": f"noise{i}", "title": "", "text": f"unrelated filler passage number {i}"} for i in range(20)]
    questions = {
        "kubernetes": "which object keeps replicas of a container image running",
        "baking": "how long should bread dough proof",
        "astronomy": "what is a pulsar",
        "gardening": "should I pinch tomato suckers",
        "finance": "why are index fund fees low",
        "chess": "how does black answer e4 in the sicilian",
    }
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"q-{name}", "text": text}) for name, text in questions.items()), encoding="utf-8"
    )
    (folder / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q-{name}\t{name}\t1\n" for name in questions), encoding="utf-8"
    )
    return folder


def test_compare_on_a_beir_folder_writes_the_leaderboard_and_a_finetune_config(
    tmp_path, tiny_model_dir, minilm_path, zenml_repository
):
    benchmark = write_beir(tmp_path / "beir")
    output, best = tmp_path / "board" / "leaderboard.json", tmp_path / "best.yaml"
    result = run_cli(
        "compare", "--model", tiny_model_dir, "--model", "all-MiniLM-L6-v2", "--model", "openai:text-embedding-3-small",
        "--benchmark", str(benchmark), "--split", "dev", "--max-queries", "5", "--max-corpus", "15",
        "--output", str(output), "--use-best", str(best),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    board = json.loads(output.read_text())
    assert board["n_queries"] == 5 and board["n_corpus"] == 15
    assert board["sample"] == {"queries": 5, "corpus": 15, "of_queries": 6, "of_corpus": 26}
    assert [c["model"] for c in board["candidates"]][1] == "all-MiniLM-L6-v2"
    assert board["skipped"][0]["model"] == "openai:text-embedding-3-small"
    assert board["best"]["model"] == "all-MiniLM-L6-v2"
    assert board["command"].startswith("python run.py compare --model")
    assert "Best (quality): all-MiniLM-L6-v2" in result.stdout
    assert "NDCG@10 [95% CI]" in result.stdout and "MB / 1M chunks" in result.stdout
    markdown = output.with_suffix(".md").read_text()
    assert "| 1 | all-MiniLM-L6-v2 |" in markdown and board["command"] in markdown
    config, _ = load_run_config(best)
    assert config.model.base_model == "all-MiniLM-L6-v2"
    assert f"python run.py finetune --config {best}" in result.stdout

    from zenml.client import Client

    run = Client().get_pipeline("embedtune_compare_models").last_run
    html = run.steps["compare_candidates"].outputs["leaderboard_html"]
    html = html[0] if isinstance(html, list) else html
    assert "all-MiniLM-L6-v2" in str(html.load())  # the dashboard's visualization


def test_compare_defaults_to_the_latest_held_out_synthetic_queries(tmp_path, tiny_model_dir):
    """In a store of its own: first a clean error (nothing generated yet), then the held-out queries."""
    env = {**os.environ, "ZENML_CONFIG_PATH": tempfile.mkdtemp(prefix="embedtune-compare-zenml-", dir=tmp_path)}
    assert_clean_error(run_cli("compare", "--model", tiny_model_dir, env=env), "no 'test' artifact in ZenML yet")

    chunks = [{"chunk_id": f"c-{name}", "doc_id": name, "text": text} for name, text in TOPICS.items()]
    test = [{"id": f"p-{name}", "query": f"{name} question", "positive_id": f"c-{name}", "doc_id": name}
            for name in list(TOPICS)[:3]]
    script = (
        "import pandas as pd, json, sys\nfrom zenml import save_artifact\n"
        "data = json.loads(sys.argv[1])\n"
        "save_artifact(pd.DataFrame(data['chunks']), name='chunks')\n"
        "save_artifact(pd.DataFrame(data['test']), name='test')\n"
    )
    saved = subprocess.run([sys.executable, "-c", script, json.dumps({"chunks": chunks, "test": test})],
                           cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert saved.returncode == 0, saved.stderr[-3000:]
    output = tmp_path / "held-out.json"
    result = run_cli("compare", "--model", tiny_model_dir, "--precision", "float32", "--output", str(output), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    board = json.loads(output.read_text())
    assert board["source"].startswith("held-out synthetic test queries")
    assert board["n_queries"] == 3 and board["n_corpus"] == len(TOPICS)
    assert [r["precision"] for r in board["rows"]] == ["float32"]
    assert "Data: held-out synthetic test queries" in output.with_suffix(".md").read_text()


def test_unknown_local_model_stops_compare_before_any_work(tmp_path):
    benchmark = write_beir(tmp_path / "beir")
    result = run_cli("compare", "--model", str(tmp_path / "no-such-model-dir-xyz"), "--benchmark", str(benchmark),
                     "--split", "dev")
    assert_clean_error(result, "unknown model")
    assert "compare_candidates" not in result.stdout + result.stderr


def test_compare_with_best_chunk_ranks_documents_by_their_chunks(tmp_path, tiny_model_dir, zenml_repository):
    from zenml.client import Client

    from embedtune.config import parse_parameters
    from pipelines.compare import compare_models

    benchmark = write_beir(tmp_path / "beir")
    rows = [json.loads(line) for line in (benchmark / "corpus.jsonl").read_text().splitlines()]
    filler = " ".join(f"padding sentence {i} with nothing to say." for i in range(20))  # the topic text comes last
    (benchmark / "corpus.jsonl").write_text(
        "\n".join(json.dumps({**row, "text": f"{filler} {row['text']}"}) for row in rows), encoding="utf-8"
    )
    config = parse_parameters({"evaluation": {"long_documents": "best_chunk"},
                               "chunking": {"chunk_tokens": 40, "overlap_tokens": 4},
                               "model": {"base_model": tiny_model_dir}, "compare": {"precisions": ["float32"]}})
    run = compare_models(config=config, models=[tiny_model_dir], benchmark_dir=str(benchmark), split="dev")
    board = Client().get_pipeline_run(run.id).steps["compare_candidates"].outputs["leaderboard"]
    board = (board[0] if isinstance(board, list) else board).load()
    assert board["documents_by"] == "best chunk" and board["n_corpus"] == 26 < board["n_chunks"]
