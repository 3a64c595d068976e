"""The promotion gate: the tuned model is promoted only if it beats the base model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedtune.config import PromotionConfig
from embedtune.evaluation import full_dim


def decide(report: Mapping[str, Any], config: PromotionConfig, tuned: str = "tuned") -> tuple[bool, str]:
    dim = full_dim(report, tuned)
    gain = report["gains"][tuned][dim]["ndcg@10"]
    summary = f"NDCG@10 gain {gain['gain']:+.4f} (95% CI {gain['ci_low']:+.4f} to {gain['ci_high']:+.4f})"
    if gain["gain"] <= config.min_ndcg_gain:
        return False, f"not promoted: {summary} does not exceed promotion.min_ndcg_gain={config.min_ndcg_gain}"
    if config.require_significant and gain["ci_low"] <= 0:
        return False, f"not promoted: {summary} is not significant (promotion.require_significant)"
    return True, f"promoted to {config.stage}: {summary}"
