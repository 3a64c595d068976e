"""The promotion rule: the tuned model is promoted only if it beats the base model, and the model
version currently holding the target stage (the incumbent) when there is one.

Which queries decide (`decision_basis`): the gold queries (real, human-judged: `evaluation.gold`) whenever
the run has a gold set big enough to decide (`evaluation.gold_min_queries`); otherwise the held-out
synthetic queries, and the reason says so.

The confidence intervals the rule reads are paired BCa bootstrap intervals over queries
(`embedtune.evaluation.metrics.paired_bootstrap_ci`, scipy.stats.bootstrap). With fewer than
`MIN_QUERIES_FOR_CI` deciding queries nothing can be resampled (the interval collapses onto the point
estimate), so a gate that requires significance refuses to promote on them.

1. `decide(report, config, incumbent)` is the rule itself, on numbers only (unit-tested without ZenML).
2. `find_incumbent(model, stage)` finds the version to beat: production if any, else the one in `stage`.
3. `versus_incumbent(...)` re-measures tuned against the incumbent on the deciding queries (gold or synthetic).
The `promote` step (steps/evaluation.py) calls them in that order and sets the stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from embedtune.config import PromotionConfig
from embedtune.evaluation.benchmark import Benchmark, evaluate_models, full_dim

# Fewer deciding queries than this cannot show a significant gain: the bootstrap has nothing to resample.
MIN_QUERIES_FOR_CI = 2

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.config import EvaluationConfig


def _summary(gain: Mapping[str, float]) -> str:
    return f"NDCG@10 gain {gain['gain']:+.4f} (95% CI {gain['ci_low']:+.4f} to {gain['ci_high']:+.4f})"


def decision_basis(report: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
    """(`"gold"` or `"synthetic"`, the part of `report` to decide on, which queries those are, in words).

    Gold when `report["gold"]` exists and is not `too_small`; otherwise the held-out synthetic queries, with
    why (no gold set, or one too small to decide)."""
    gold = report.get("gold")
    synthetic = f"{report.get('n_queries', '?')} held-out synthetic queries"
    if not gold:
        return "synthetic", report, f"{synthetic} (no gold set: set evaluation.gold to decide on real queries)"
    if gold.get("too_small"):
        return "synthetic", report, (
            f"{synthetic} (the gold set has only {gold['n_queries']} queries, fewer than "
            f"evaluation.gold_min_queries={gold['min_queries']}: too small to decide)"
        )
    return "gold", gold, f"{gold['n_queries']} gold queries"


def decide(
    report: Mapping[str, Any],
    config: PromotionConfig,
    incumbent: Mapping[str, Any] | None = None,
    tuned: str = "tuned",
) -> tuple[bool, str]:
    """(promote?, why). The rule runs on the gold queries when the report has a gold set that can decide,
    else on the held-out synthetic ones (`decision_basis`); the reason ends with which queries decided.
    `incumbent`: the paired gain of tuned over the incumbent version (production if any, else the current
    `config.stage` version) on those same queries, with its `version` name and `stage`."""
    _, basis, queries = decision_basis(report)
    promoted, reason = _rule(basis, config, incumbent, tuned)
    return promoted, f"{reason}; decided on {queries}"


def _rule(
    report: Mapping[str, Any], config: PromotionConfig, incumbent: Mapping[str, Any] | None, tuned: str
) -> tuple[bool, str]:
    dim = full_dim(report, tuned)
    gain = report["gains"][tuned][dim]["ndcg@10"]
    summary = _summary(gain)
    if gain["gain"] <= config.min_ndcg_gain:
        return False, f"not promoted: {summary} does not exceed promotion.min_ndcg_gain={config.min_ndcg_gain}"
    queries = report.get("n_queries")
    if config.require_significant and isinstance(queries, int) and queries < MIN_QUERIES_FOR_CI:
        return False, (
            f"not promoted: {summary} rests on {queries} query, too few for a confidence interval "
            f"(at least {MIN_QUERIES_FOR_CI}; promotion.require_significant)"
        )
    if config.require_significant and gain["ci_low"] <= 0:
        return False, f"not promoted: {summary} is not significant (promotion.require_significant)"
    if incumbent is None:
        return True, f"promoted to {config.stage}: {summary}"
    versus = f"the current {incumbent.get('stage', config.stage)} version {incumbent['version']} ({_summary(incumbent)})"
    if incumbent["gain"] <= 0:
        return False, f"not promoted: beats the base ({summary}) but not {versus}"
    if config.require_significant and incumbent["ci_low"] <= 0:
        return False, f"not promoted: the gain over {versus} is not significant (promotion.require_significant)"
    return True, f"promoted to {config.stage}, replacing version {incumbent['version']}: {summary}; beats {versus}"


def _version_in_stage(model: Any, stage: str) -> tuple[SentenceTransformer | None, str]:
    """The tuned model of the version now in `stage` (not `model` itself), if any."""
    from zenml.client import Client

    try:
        version = Client().get_model_version(model.name, stage)
    except KeyError:  # no version holds the stage yet
        return None, ""
    artifact = version.get_artifact("tuned_model") if version.id != model.id else None
    return (artifact.load(), str(version.name)) if artifact is not None else (None, "")


def find_incumbent(model: Any, stage: str) -> tuple[SentenceTransformer | None, str, str]:
    """(tuned model, version name, stage) of the version to beat: production if there is one (what
    serves), else the version now holding `stage`; (None, "", stage) when there is none."""
    for incumbent_stage in dict.fromkeys(("production", stage)):
        incumbent_model, incumbent_version = _version_in_stage(model, incumbent_stage)
        if incumbent_model is not None:
            return incumbent_model, incumbent_version, incumbent_stage
    return None, "", stage


def versus_incumbent(
    tuned: SentenceTransformer, incumbent: SentenceTransformer, version: str, stage: str,
    benchmark: Benchmark, config: EvaluationConfig,
) -> dict[str, Any]:
    """The paired NDCG@10 gain of tuned over the incumbent on `benchmark`, as `decide` expects it."""
    report = evaluate_models({"incumbent": incumbent, "tuned": tuned}, benchmark, config)
    dim = full_dim(report, "tuned")
    return {"version": version, "stage": stage, **report["gains"]["tuned"][dim]["ndcg@10"]}

