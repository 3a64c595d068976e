"""Scheduled retraining: a ZenML `Schedule` from a cron expression, refused early where it cannot work.

Only some orchestrators run schedules (the local one runs a pipeline once, now); the active stack's
orchestrator decides, through its config's `is_schedulable`.
"""

from __future__ import annotations

import re
from typing import Any

from embedtune import EmbedtuneError

# Orchestrator flavors of ZenML 0.98 whose config says is_schedulable = True.
SCHEDULABLE_FLAVORS = ("airflow", "azureml", "databricks", "hyperai", "kubeflow", "kubernetes", "sagemaker", "vertex")
_CRON_FIELD = re.compile(r"^(\*|\?|[0-9A-Za-z]+)([-/,][0-9A-Za-z*]+)*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute hour day-of-month month day-of-week


def validate_cron(expression: str) -> str:
    """A standard five-field cron expression (minute hour day month weekday), e.g. '0 3 * * 1'."""
    fields = expression.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
        raise EmbedtuneError(
            f"--cron '{expression}' is not a five-field cron expression (minute hour day month weekday), "
            "e.g. '0 3 * * 1' for Mondays at 03:00"
        )
    for field, (low, high) in zip(fields, _CRON_RANGES):
        for number in re.findall(r"\d+", field):
            if not low <= int(number) <= high:
                raise EmbedtuneError(f"--cron '{expression}': {number} is outside {low}-{high} in field '{field}'")
    return " ".join(fields)


def check_schedulable(orchestrator: Any) -> None:
    """Raise a clear error when the active stack's orchestrator cannot run schedules."""
    if getattr(orchestrator.config, "is_schedulable", False):
        return
    raise EmbedtuneError(
        f"the active stack's orchestrator '{orchestrator.name}' ({orchestrator.flavor}) cannot run schedules; "
        f"switch to a stack whose orchestrator can ({', '.join(SCHEDULABLE_FLAVORS)}), e.g. "
        "`zenml stack set k8s_stack` (recipes in configs/stacks/), or use cron/CI to call `python run.py run`"
    )


def build_schedule(cron: str, name: str | None = None):
    from zenml.config.schedule import Schedule

    return Schedule(name=name, cron_expression=validate_cron(cron))
