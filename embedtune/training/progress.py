"""What training shows while it runs: a progress bar (optional) and one line per log and per evaluation.

transformers prints every log as a Python dict (`PrinterCallback`, or the progress bar's `tqdm.write`) and
sentence-transformers' InformationRetrievalEvaluator logs a block of ~20 lines per evaluation. Instead,
`TrainingSummary` logs one line per training log (`step 12/40 (epoch 0.6): loss 1.2345, lr 1.8e-05`) and
one per evaluation (`evaluation at step 20/40 (epoch 1.0): validation NDCG@10 0.5123, MRR@10 ...,
best 0.5123 at step 20`) through embedtune's logger, and `quiet_evaluator` silences the block.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import ProgressCallback, TrainerCallback

from embedtune import logger


def show_progress_bar(setting: bool | None) -> bool:
    """`training.progress_bar`: True/False as set; None = when stderr is a terminal (not in CI or logs)."""
    if setting is not None:
        return setting
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


class BarOnly(ProgressCallback):
    """transformers' progress bar without its dict dump of every log (`TrainingSummary` logs instead)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return None


def evaluation_line(metrics: dict[str, Any], name: str, step: int, max_steps: int, epoch: float | None,
                    best: float | None = None, best_step: int | None = None) -> str:
    """One line for one evaluation of the `name` retrieval evaluator (its cosine NDCG/MRR/Recall@10)."""
    def metric(key: str) -> str:
        value = metrics.get(f"eval_{name}_cosine_{key}")
        return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"

    line = (f"evaluation at step {step}/{max_steps} (epoch {epoch or 0:.2f}): {name} NDCG@10 {metric('ndcg@10')}, "
            f"MRR@10 {metric('mrr@10')}, Recall@10 {metric('recall@10')}")
    if best is not None:
        line += f"; best {best:.4f}" + (f" at step {best_step}" if best_step is not None else "")
    return line


class TrainingSummary(TrainerCallback):
    """Logs one line per training log and one per evaluation (see the module docstring)."""

    def __init__(self, evaluator_name: str, metric: str | None) -> None:
        self.evaluator_name = evaluator_name
        self.metric = metric  # e.g. eval_validation_cosine_ndcg@10: the model-selection metric
        self.best: float | None = None
        self.best_step: int | None = None
        self.lines: list[str] = []  # what was logged, for tests and for the caller's summary

    def _log(self, line: str) -> None:
        self.lines.append(line)
        logger.info(line)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs and state.is_world_process_zero:
            rate = logs.get("learning_rate")
            self._log(f"step {state.global_step}/{state.max_steps} (epoch {state.epoch or 0:.2f}): "
                      f"loss {logs['loss']:.4f}" + (f", lr {rate:.2e}" if isinstance(rate, float) else ""))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        if not state.is_world_process_zero:
            return
        value = metrics.get(self.metric) if self.metric else None
        if isinstance(value, (int, float)) and (self.best is None or value > self.best):
            self.best, self.best_step = float(value), state.global_step
        self._log(evaluation_line(metrics, self.evaluator_name, state.global_step, state.max_steps, state.epoch,
                                  self.best, self.best_step))


@contextmanager
def quiet_evaluator(evaluator: Any) -> Iterator[None]:
    """Silence the evaluator's own per-evaluation block (its module logger below WARNING) meanwhile."""
    if evaluator is None:
        yield
        return
    evaluator_logger = logging.getLogger(type(evaluator).__module__)
    level = evaluator_logger.level
    evaluator_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        evaluator_logger.setLevel(level)


def install(trainer: Any, summary: TrainingSummary, progress_bar: bool) -> None:
    """Replace the trainer's dict printers by `summary`, with transformers' bar when `progress_bar`."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress_bar:
        trainer.add_callback(BarOnly)
    trainer.add_callback(summary)
