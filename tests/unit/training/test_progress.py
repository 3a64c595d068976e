"""What training shows: one line per evaluation instead of the evaluator's block, no dict dumps, a bar on demand."""

from __future__ import annotations

import logging

from embedtune.config import ModelConfig, TrainingConfig
from embedtune.training import progress
from embedtune.training.trainer import train_embedder
from tests.unit.training.test_trainer import chunks_for, make_pairs


def train_tiny(tiny_model_dir, **settings):
    from sentence_transformers import SentenceTransformer

    train, validation = make_pairs(24), make_pairs(4, doc_prefix="v")
    config = TrainingConfig(epochs=1, batch_size=8, mini_batch_size=4, evals_per_epoch=3, **settings)
    return train_embedder(SentenceTransformer(tiny_model_dir, device="cpu"), train, validation,
                          chunks_for(train + validation), ModelConfig(base_model="tiny", matryoshka_dims=[64]), config)


def test_each_evaluation_is_one_line_and_nothing_is_printed(tiny_model_dir, caplog, capsys):
    evaluator_logger = logging.getLogger("sentence_transformers.sentence_transformer.evaluation.information_retrieval")
    level = evaluator_logger.level
    with caplog.at_level(logging.INFO):
        train_tiny(tiny_model_dir, progress_bar=False)
    messages = [record.getMessage() for record in caplog.records]
    evaluations = [m for m in messages if m.startswith("evaluation at step")]
    assert len(evaluations) == 3  # 3 steps, one evaluation each
    assert all("\n" not in m and "validation NDCG@10 0." in m and "; best 0." in m for m in evaluations)
    assert evaluations[0].startswith("evaluation at step 1/3 (epoch 0.33)")
    assert [m for m in messages if m.startswith("step ")]  # the loss, one line per log
    assert not [m for m in messages if "Information Retrieval Evaluation" in m or m.startswith(("MRR@", "NDCG@"))]
    captured = capsys.readouterr()
    assert "{'loss'" not in captured.out and "{'eval_" not in captured.out and "'loss'" not in captured.err
    assert "3/3" not in captured.err  # no bar unless asked (stderr is not a terminal under pytest)
    assert evaluator_logger.level == level  # silenced during training only


def test_the_progress_bar_shows_when_asked(tiny_model_dir, capsys):
    train_tiny(tiny_model_dir, progress_bar=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "{'loss'" not in err  # the bar, without transformers' dict dump


def test_the_bar_follows_the_terminal_unless_set(monkeypatch):
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr("sys.stderr", Stream(True))
    assert progress.show_progress_bar(None) is True and progress.show_progress_bar(False) is False
    monkeypatch.setattr("sys.stderr", Stream(False))
    assert progress.show_progress_bar(None) is False and progress.show_progress_bar(True) is True


def test_the_evaluation_line_names_missing_metrics_and_the_best_step():
    line = progress.evaluation_line({"eval_validation_cosine_ndcg@10": 0.51234}, "validation", 4, 10, 0.4, 0.6, 2)
    assert line == ("evaluation at step 4/10 (epoch 0.40): validation NDCG@10 0.5123, MRR@10 n/a, Recall@10 n/a; "
                    "best 0.6000 at step 2")
