"""Training killed mid-epoch (SIGKILL, no chance to clean up) resumes from its last complete checkpoint,
and the final model folder is whole and loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from embedtune.training.checkpoints import latest_checkpoint
from tests.conftest import PROJECT_ROOT, TOPICS

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two training processes: ~1 min

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {root!r})
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

    delay = float(os.environ.get("STEP_DELAY", "0"))
    if delay:  # slow every optimizer step down so the parent can kill the process mid-epoch
        original = SentenceTransformerTrainer.training_step
        def slow_step(self, *args, **kwargs):
            time.sleep(delay)
            return original(self, *args, **kwargs)
        SentenceTransformerTrainer.training_step = slow_step

    import logging
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from embedtune.training.checkpoints import save_model_atomically
    from embedtune.config import ModelConfig, TrainingConfig
    from embedtune.training.trainer import train_embedder

    data = json.loads(open({data!r}).read())
    model_config = ModelConfig(base_model={model!r}, matryoshka_dims=[64, 32])
    config = TrainingConfig(epochs=1, batch_size=8, mini_batch_size=8, learning_rate=1e-3, evals_per_epoch=6,
                            validation_corpus_size=64, checkpoint_dir={checkpoints!r})
    result = train_embedder(SentenceTransformer({model!r}), data["train"], data["validation"], data["chunks"],
                            model_config, config)
    save_model_atomically(result.model, {output!r})
    print("METRICS " + json.dumps(result.metrics), flush=True)
    """
)


def training_data(path: Path) -> Path:
    pairs = []
    for number in range(104):
        topic, text = list(TOPICS.items())[number % len(TOPICS)]
        pairs.append({
            "id": f"pair-{number}", "query": f"question {number} about {topic}", "positive": f"Passage {number}. {text}",
            "positive_id": f"chunk-{number}", "doc_id": f"doc-{number}",
        })
    chunks = [{"chunk_id": p["positive_id"], "text": p["positive"]} for p in pairs]
    path.write_text(json.dumps({"train": pairs[:96], "validation": pairs[96:], "chunks": chunks}))
    return path


def test_training_killed_mid_epoch_resumes_from_its_last_checkpoint_and_saves_a_whole_model(
    tmp_path, tiny_model_dir
):
    from sentence_transformers import SentenceTransformer

    checkpoints, output = tmp_path / "checkpoints", tmp_path / "tuned-model"
    script = tmp_path / "train.py"
    script.write_text(CHILD.format(root=str(PROJECT_ROOT), data=str(training_data(tmp_path / "data.json")),
                                   model=tiny_model_dir, checkpoints=str(checkpoints), output=str(output)))
    environment = {**os.environ, "STEP_DELAY": "0.4"}
    child = subprocess.Popen([sys.executable, str(script)], env=environment, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    newest = None
    while child.poll() is None and time.monotonic() < deadline:
        runs = [folder for folder in checkpoints.glob("*") if folder.is_dir()]
        newest = latest_checkpoint(runs[0], remove_incomplete=False) if runs else None
        if newest:
            break
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    first_output = child.communicate(timeout=30)[0]
    assert newest, f"no checkpoint was written before the deadline:\n{first_output[-3000:]}"
    assert "METRICS" not in first_output and child.returncode == -signal.SIGKILL
    assert not output.exists()  # the killed run left no model folder, whole or half

    resumed = subprocess.run([sys.executable, str(script)], env={**os.environ, "STEP_DELAY": "0"}, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    metrics = json.loads(log.split("METRICS ", 1)[1].splitlines()[0])
    assert f"resuming training from {Path(newest).parent / metrics['resumed_from']}" in log
    assert int(metrics["resumed_from"].split("-")[1]) >= int(Path(newest).name.split("-")[1])
    assert metrics["global_steps"] == 12  # 96 pairs / batch 8: the full epoch, counted across both runs
    assert SentenceTransformer(str(output)).encode(["a query"]).shape == (1, 64)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tuned-model")] == []
