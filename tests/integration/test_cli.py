"""The command line as a user meets it: clear one-line errors with a non-zero exit, no traceback."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=timeout, check=False,
    )


def assert_clean_error(result, expected):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]


def test_missing_corpus_folder(tmp_path):
    assert_clean_error(run_cli("run", "--corpus", str(tmp_path / "absent")), "corpus not found")


def test_empty_corpus_folder(tmp_path):
    assert_clean_error(run_cli("run", "--corpus", str(tmp_path)), "is empty")


def test_corpus_with_only_unusable_files(tmp_path, zenml_repository):
    (tmp_path / "blob.md").write_bytes(b"\x00\x01binary" * 50)
    assert_clean_error(run_cli("generate", "--corpus", str(tmp_path)), "no usable documents")


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("parameters:\n  training: {epochs: 1\n", "malformed YAML"),
        ("parameters:\n  training:\n    epocs: 1\n", "training.epocs: unknown key"),
        ("parameters:\n  model:\n    base_model: no-such-org/no-such-model\n", "unknown model 'no-such-org/no-such-model'"),
    ],
    ids=["malformed-yaml", "unknown-key", "unknown-model-id"],
)
def test_config_errors_stop_the_run_with_one_line(tmp_path, yaml_text, expected):
    config = tmp_path / "config.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    assert_clean_error(run_cli("run", "--config", str(config)), expected)


def test_matryoshka_dims_larger_than_the_model_are_rejected_before_any_work(tmp_path):
    config = tmp_path / "dims.yaml"
    config.write_text("parameters:\n  model:\n    matryoshka_dims: [768, 384]\n", encoding="utf-8")
    result = run_cli("run", "--config", str(config))
    assert_clean_error(result, "model.matryoshka_dims [768] exceed the dimension 384")
    assert "Step load_documents has started" not in result.stdout + result.stderr


def test_evaluate_command_writes_json_and_prints_a_table(tmp_path, tiny_model_dir, zenml_repository):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"body {i}"}) for i in range(12)), encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"q{i}", "text": f"body {i}"}) for i in range(6)), encoding="utf-8"
    )
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(6)))
    output = tmp_path / "metrics.json"
    result = run_cli("evaluate", "--model", tiny_model_dir, "--benchmark", str(folder), "--split", "dev", "--output", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    metrics = report["models"][tiny_model_dir]["64"]
    assert set(metrics) == {"ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "map@100"}
    assert "ndcg@10" in result.stdout and "(6 queries, 12 candidate passages)" in result.stdout


def test_evaluate_rejects_a_folder_that_is_not_beir(tmp_path):
    assert_clean_error(
        run_cli("evaluate", "--model", "all-MiniLM-L6-v2", "--benchmark", str(tmp_path)), "is not a BEIR folder"
    )


@pytest.fixture(scope="module")
def generated_pairs(zenml_repository, tmp_path_factory, tiny_model_dir):
    """One `generate` run (heuristic generator, tiny model) of the ZenML model `embedtune-samples-test`."""
    from zenml.client import Client

    from embedtune.config import parse_parameters
    from embedtune.data.ingest import corpus_fingerprint
    from pipelines import generate_data
    from tests.conftest import write_corpus

    corpus = write_corpus(tmp_path_factory.mktemp("samples") / "corpus", repeats=2)
    config = parse_parameters({
        "ingest": {"corpus": str(corpus)}, "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "model": {"base_model": tiny_model_dir, "matryoshka_dims": [64, 32]},
        "curation": {"enabled": False},
    })
    run = generate_data.with_options(model={"name": "embedtune-samples-test"})(
        config=config, corpus_fingerprint=corpus_fingerprint(config.ingest)
    )
    return Client().get_pipeline_run(run.id)


def test_samples_of_a_models_latest_pairs_go_beside_that_runs_report(generated_pairs, tmp_path, monkeypatch):
    from commands import support
    from embedtune import EmbedtuneError

    monkeypatch.chdir(tmp_path)  # outputs/ is relative to the working directory
    path = support.write_samples(4, 0, None, "embedtune samples -n 4", "embedtune-samples-test")
    assert path == Path("outputs") / generated_pairs.name / "samples.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# 4 generated pairs from ") and "Made with: `embedtune samples -n 4`" in text
    assert text.count("\n## ") == 4  # each pair names its source file (the run's chunks), then its heading path
    assert len(re.findall(r"\.md`(?: › [^*\n]+)?\*", text)) == 4
    chosen = support.write_samples(2, 0, str(tmp_path / "mine.md"), "cmd", "embedtune-samples-test")
    assert chosen == tmp_path / "mine.md" and chosen.is_file()
    with pytest.raises(EmbedtuneError, match="no generated pairs of the ZenML model 'someone-else'"):
        support.write_samples(2, 0, None, "cmd", "someone-else")
