"""The promotion rule: a gain over the base, significant by default, and over the incumbent."""



def report_with(gain, ci_low, ci_high):
    return {"models": {"tuned": {"384": {}}}, "gains": {"tuned": {"384": {"ndcg@10": {
        "gain": gain, "ci_low": ci_low, "ci_high": ci_high}}}}}


def test_promotion_needs_a_gain_over_the_base():
    from embedtune.config import PromotionConfig
    from embedtune.evaluation.promotion import decide

    assert decide(report_with(0.03, 0.01, 0.05), PromotionConfig())[0] is True
    promoted, reason = decide(report_with(-0.02, -0.05, 0.01), PromotionConfig())
    assert promoted is False and "does not exceed promotion.min_ndcg_gain=0.0" in reason
    assert decide(report_with(0.03, 0.01, 0.05), PromotionConfig(min_ndcg_gain=0.05))[0] is False


def test_promotion_requires_the_ci_above_zero_by_default():
    from embedtune.config import PromotionConfig
    from embedtune.evaluation.promotion import decide

    promoted, reason = decide(report_with(0.02, -0.01, 0.05), PromotionConfig())
    assert promoted is False and "not significant" in reason
    assert decide(report_with(0.02, -0.01, 0.05), PromotionConfig(require_significant=False))[0] is True


def test_promotion_must_also_beat_the_incumbent_version():
    from embedtune.config import PromotionConfig
    from embedtune.evaluation.promotion import decide

    config = PromotionConfig(stage="production")
    better = {"version": "3", "gain": 0.01, "ci_low": 0.002, "ci_high": 0.02}
    worse = {"version": "3", "gain": -0.01, "ci_low": -0.02, "ci_high": 0.001}
    promoted, reason = decide(report_with(0.03, 0.01, 0.05), config, better)
    assert promoted is True and "replacing version 3" in reason
    promoted, reason = decide(report_with(0.03, 0.01, 0.05), config, worse)
    assert promoted is False and "but not the current production version 3" in reason


def test_a_single_deciding_query_is_never_significant():
    """One query gives a zero-width interval (nothing to resample): the gate must not read it as significant."""
    import numpy as np

    from embedtune.config import PromotionConfig
    from embedtune.evaluation.metrics import paired_bootstrap_ci
    from embedtune.evaluation.promotion import decide

    gain = paired_bootstrap_ci(np.array([0.2]), np.array([0.9]))
    assert gain["ci_low"] > 0  # the interval alone would pass the gate
    report = {"n_queries": 1, "models": {"tuned": {"384": {}}}, "gains": {"tuned": {"384": {"ndcg@10": gain}}}}
    promoted, reason = decide(report, PromotionConfig())
    assert promoted is False and "rests on 1 query, too few for a confidence interval" in reason
    assert decide(report, PromotionConfig(require_significant=False))[0] is True
    assert decide({**report, "n_queries": 30}, PromotionConfig())[0] is True
