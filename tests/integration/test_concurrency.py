"""Two pipeline runs at once on one local stack (SQLite store, local artifact store): both succeed and
neither touches the other's artifacts, even when both are the first runs on a fresh store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT_ROOT, write_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two pipelines on 2 shared cores: ~1 min

INSPECT = textwrap.dedent(
    """
    import json
    from zenml.client import Client
    runs = []
    for run in Client().list_pipeline_runs(size=20, hydrate=True):
        outputs = {}
        for name, step in run.steps.items():
            for output, artifacts in step.outputs.items():
                artifacts = artifacts if isinstance(artifacts, list) else [artifacts]
                outputs[f"{name}/{output}"] = [[str(a.id), a.uri, str(a.version)] for a in artifacts]
        runs.append({"name": run.name, "status": str(run.status.value), "outputs": outputs})
    print("RUNS " + json.dumps(runs))
    """
)


def test_two_runs_started_together_on_a_fresh_store_both_succeed_with_distinct_intact_artifacts(
    tmp_path, tiny_model_dir, zenml_repository
):
    config = {
        "enable_cache": False,
        "model": {"name": "embedtune-concurrency"},
        "parameters": {
            "ingest": {"corpus": str(write_corpus(tmp_path / "corpus", repeats=2))},
            "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
            "generation": {"backend": "heuristic", "queries_per_chunk": 2},
            "model": {"base_model": tiny_model_dir, "matryoshka_dims": [64, 32]},
        },
    }
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    environment = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}  # fresh: both runs create it
    command = [sys.executable, str(PROJECT_ROOT / "run.py"), "generate", "--config", str(config_path)]
    children = [
        subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]
    results = [child.communicate(timeout=400) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err[-4000:]
        assert "Training pairs: artifact 'training_triplets'" in out

    inspected = subprocess.run([sys.executable, "-c", INSPECT], cwd=PROJECT_ROOT, env=environment,
                               capture_output=True, text=True, timeout=120, check=True)
    runs = json.loads(inspected.stdout.split("RUNS ", 1)[1])
    assert len(runs) == 2 and {run["status"] for run in runs} == {"completed"}
    first, second = (run["outputs"] for run in runs)
    assert set(first) == set(second) and len(first) >= 5
    for output in first:
        (id_a, uri_a, version_a), (id_b, uri_b, version_b) = first[output][0], second[output][0]
        assert id_a != id_b and uri_a != uri_b and version_a != version_b, output
    for run in (first, second):  # every artifact of both runs is intact: same inputs, same content
        for uri in (run[name][0][1] for name in run):
            assert Path(uri).exists() and any(Path(uri).iterdir()), uri
    frames = [pd.read_parquet(next(Path(run["mine_negatives/training_triplets"][0][1]).glob("df.parquet*")))
              for run in (first, second)]
    assert len(frames[0]) > 0
    pd.testing.assert_frame_equal(frames[0], frames[1])
