"""The promotion gate: the tuned model is promoted only if it beats the base model, and the model
version currently holding the target stage (the incumbent) when there is one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedtune.config import PromotionConfig
from embedtune.evaluation import full_dim


def _summary(gain: Mapping[str, float]) -> str:
    return f"NDCG@10 gain {gain['gain']:+.4f} (95% CI {gain['ci_low']:+.4f} to {gain['ci_high']:+.4f})"


def decide(
    report: Mapping[str, Any],
    config: PromotionConfig,
    incumbent: Mapping[str, Any] | None = None,
    tuned: str = "tuned",
) -> tuple[bool, str]:
    """(promote?, why). `incumbent`: the paired gain of tuned over the incumbent version (production if
    any, else the current `config.stage` version) on the same test queries, with its `version` name and
    `stage`."""
    dim = full_dim(report, tuned)
    gain = report["gains"][tuned][dim]["ndcg@10"]
    summary = _summary(gain)
    if gain["gain"] <= config.min_ndcg_gain:
        return False, f"not promoted: {summary} does not exceed promotion.min_ndcg_gain={config.min_ndcg_gain}"
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
