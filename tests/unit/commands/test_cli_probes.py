"""Mistakes a new user makes, through `run.py` itself: each ends with exit 2 and one `error:` line naming
the problem and the fix, before any pipeline work, with nothing deleted and no secret stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import PROJECT_ROOT, write_corpus

PASSWORD = "PLANTED-base-url-PW-5521"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run.py"), *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output[-3000:]
    return errors[0]


def test_an_export_dir_holding_a_users_files_is_refused_before_any_work(tmp_path):
    target = tmp_path / "d"
    (target / "sub").mkdir(parents=True)
    (target / "notes.txt").write_text("notes", encoding="utf-8")
    line = one_error_line(run_cli(tmp_path, "run", "--export-dir", str(target)))
    assert "already holds other files (notes.txt, sub)" in line
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "sub"]
    assert not (tmp_path / "zenml").exists()  # refused before the store was even opened
    under_file = one_error_line(run_cli(tmp_path, "run", "--export-dir", str(target / "notes.txt" / "model")))
    assert "is a file, so no folder can be made under it" in under_file


def test_a_password_in_a_config_url_is_refused_and_stored_nowhere(tmp_path):
    config = {"parameters": {
        "ingest": {"corpus": str(write_corpus(tmp_path / "corpus", repeats=1))},
        "generation": {"backend": "openai", "openai": {"base_url": f"http://user:{PASSWORD}@127.0.0.1:9/v1"}},
    }}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_cli(tmp_path, "generate", "--config", str(path))
    line = one_error_line(result)
    assert "generation.openai.base_url holds a URL with a user name or password" in line
    assert PASSWORD not in result.stdout + result.stderr
    stored = [p for p in (tmp_path / "zenml").rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert stored == []


def test_samples_before_any_generate_run_is_one_line_naming_the_command_to_run(tmp_path):
    line = one_error_line(run_cli(tmp_path, "samples", "--output", str(tmp_path / "samples.md")))
    assert "no 'synthetic_pairs' artifact in the ZenML store yet" in line and "python run.py generate" in line


def test_finetune_before_any_generate_run_is_one_line_naming_the_command_to_run(tmp_path):
    for args in (["finetune"], ["finetune", "--curated"]):
        result = run_cli(tmp_path, *args)
        line = one_error_line(result)
        assert "no 'training_triplets' artifact in the ZenML store yet" in line and "python run.py generate" in line
        assert len((result.stdout + result.stderr).splitlines()) < 30  # no ZenML step failure dumped above it


def test_evaluate_on_a_benchmark_with_a_decimal_score_or_latin1_corpus_is_one_line(tmp_path):
    from tests.unit.data.test_beir import write_beir

    decimal = write_beir(tmp_path / "decimal", "q1\td1\t1.0\nq2\td2\t1\n")
    line = one_error_line(run_cli(tmp_path, "evaluate", "--model", "all-MiniLM-L6-v2", "--benchmark", str(decimal)))
    assert "score '1.0' is not a whole number" in line
    latin1 = write_beir(tmp_path / "latin1", "q1\td1\t1\n", corpus='{"_id": "d1", "text": "caf\xe9"}\n'.encode("latin-1"))
    line = one_error_line(run_cli(tmp_path, "evaluate", "--model", "all-MiniLM-L6-v2", "--benchmark", str(latin1)))
    assert "corpus.jsonl:1 is not UTF-8 text" in line
