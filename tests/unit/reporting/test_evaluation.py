"""The evaluation report's renderings: synthetic and gold side by side, and which queries decided."""

from __future__ import annotations

import pytest

from embedtune.evaluation.metrics import METRICS
from embedtune.reporting.evaluation import format_table, headline, model_version_metadata, to_html


def section(n: int, base: float, tuned: float, gain: float) -> dict:
    values = {metric: 0.5 for metric in METRICS}
    return {
        "n_queries": n, "n_corpus": 40,
        "models": {"base": {"64": {**values, "ndcg@10": base}, "32": {**values, "ndcg@10": base - 0.1}},
                   "tuned": {"64": {**values, "ndcg@10": tuned}, "32": {**values, "ndcg@10": tuned - 0.1}}},
        "gains": {"tuned": {d: {"ndcg@10": {"gain": gain, "ci_low": gain - 0.02, "ci_high": gain + 0.02}}
                            for d in ("64", "32")}},
    }


def with_gold(too_small: bool = False) -> dict:
    gold = {**section(42, 0.61, 0.59, -0.02), "source": "data/gold/guide.yaml", "queries_in_file": 43,
            "dropped_queries": 1, "judgments": 50, "relevant_chunks": 60, "min_queries": 20, "too_small": too_small,
            "unmapped": [{"where": "guide.yaml: query 7", "query": "q", "doc": "gone.md",
                          "reason": "no document 'gone.md' in the corpus"}], "unmapped_count": 1}
    return {**section(100, 0.80, 0.85, 0.05), "gold": gold, "decided_on": "gold", "decision_queries": "42 gold queries"}


def test_html_shows_synthetic_and_gold_side_by_side_with_the_basis_and_unmapped_lines():
    page = to_html({**with_gold(), "promotion": {"reason": "not promoted: ...; decided on 42 gold queries"}})
    synthetic, gold = page.index("Held-out synthetic queries"), page.index("Gold queries (human-judged)")
    assert synthetic < gold and "100 held-out queries" in page and "42 of 43 queries mapped" in page
    assert "Promotion decides on gold (human-judged) queries:</b> 42 gold queries" in page
    assert "guide.yaml: query 7: no document &#x27;gone.md&#x27; in the corpus" in page
    assert page.count("<table>") == 2 and page.count("<svg") == 2
    assert "-0.0200 [-0.0400, +0.0000]" in page and "+0.0500 [+0.0300, +0.0700]" in page


def test_html_without_gold_says_there_is_none_and_a_too_small_set_says_so():
    assert "No gold set (evaluation.gold)" in to_html(section(10, 0.5, 0.6, 0.1))
    assert "Too small to decide:</b> 42 queries, fewer than evaluation.gold_min_queries=20" in to_html(with_gold(True))


def test_terminal_table_and_headline_show_both_and_the_reason():
    table = format_table(with_gold())
    assert table.startswith("Held-out synthetic queries") and "Gold queries (data/gold/guide.yaml)" in table
    assert "(100 queries, 40 candidate passages)" in table and "(42 queries, 40 candidate passages)" in table
    assert "1 gold judgments could not be mapped (1 queries dropped); first: guide.yaml: query 7" in table
    lines = headline(with_gold(), {"reason": "not promoted: x; decided on 42 gold queries"}).splitlines()
    assert lines == [
        "NDCG@10 on 100 held-out synthetic queries: base 0.8000 -> tuned 0.8500 (gain +0.0500, 95% CI +0.0300 to +0.0700)",
        "NDCG@10 on 42 gold queries: base 0.6100 -> tuned 0.5900 (gain -0.0200, 95% CI -0.0400 to +0.0000)",
        "Promotion: not promoted: x; decided on 42 gold queries",
    ]
    assert "too small to decide" in headline(with_gold(True), {"reason": "r"}).splitlines()[1]
    plain = headline(section(100, 0.8, 0.85, 0.05), {"reason": "r"})
    assert "No gold set: the decision rests on synthetic queries" in plain
    assert format_table(section(100, 0.8, 0.85, 0.05)).startswith("model ")  # unchanged without gold


def test_model_version_metadata_carries_both_and_the_basis():
    metadata = model_version_metadata(with_gold())
    assert metadata["base_ndcg@10"] == 0.80 and metadata["gold_base_ndcg@10"] == 0.61
    assert metadata["gold_ndcg@10_gain_ci95"] == pytest.approx([-0.04, 0.0])
    assert metadata["test_queries"] == 100 and metadata["gold_queries"] == 42
    assert metadata["decided_on"] == "gold" and metadata["gold_unmapped"] == 1 and metadata["gold_too_small"] is False
    assert set(metadata["gold_metrics"]) == {"base", "tuned"}
    assert "gold_base_ndcg@10" not in model_version_metadata(section(10, 0.5, 0.6, 0.1))


def full_report() -> dict:
    report = section(100, 0.80, 0.85, 0.05)
    report["run"] = {"run_name": "embedtune_end_to_end-2026_12_01", "date": "2026-12-01 10:00 UTC",
                     "pipeline": "embedtune_end_to_end", "base_model": "all-MiniLM-L6-v2", "corpus": "docs",
                     "model_version": "embedtune:7"}
    report["per_query"] = {"metric": "ndcg@10", "wins": 30, "ties": 60, "losses": 10, "worst": [], "best": [
        {"query_id": "q1", "query": "how do I <resume>", "source": "docs/troubleshooting.md", "rank_base": 14,
         "rank_tuned": 1, "base": 0.0, "tuned": 1.0}]}
    report["baselines"] = {"bm25": {"metrics": {m: 0.42 for m in METRICS},
                                    "tuned_gain": {"ndcg@10": {"gain": 0.43, "ci_low": 0.35, "ci_high": 0.5}}}}
    return report


def test_html_names_the_run_and_shows_bm25_and_per_query_outcomes():
    page = to_html(full_report())
    for text in ("embedtune_end_to_end-2026_12_01", "2026-12-01 10:00 UTC", "all-MiniLM-L6-v2", "embedtune:7"):
        assert text in page
    assert "bm25 (keywords)" in page and "tuned vs bm25: +0.4300 [+0.3500, +0.5000]" in page
    assert "30 better</span>, 60 the same, <span class='dropped'>10 worse</span> of 100 queries" in page
    assert "how do I &lt;resume&gt;" in page and "docs/troubleshooting.md" in page
    assert "<td class='num'>14</td><td class='num'>1</td>" in page and "Most worsened: none." in page
    assert "bm25 (keywords)" in format_table(full_report())


def test_training_curves_are_drawn_from_a_log_history_and_their_absence_is_said():
    history = [{"step": 1, "loss": 2.0}, {"step": 2, "eval_validation_cosine_ndcg@10": 0.4},
               {"step": 3, "loss": 1.5}, {"step": 4, "eval_validation_cosine_ndcg@10": 0.5}]
    page = to_html({**full_report(), "training": {"train_pairs": 300, "log_history": history}})
    assert page.count("<polyline") == 2 and "training loss" in page and "validation NDCG@10" in page
    plain = to_html({**full_report(), "training": {"train_pairs": 300, "best_validation_ndcg@10": 0.5}})
    assert "No per-step curve" in plain and "300" in plain and "<polyline" not in plain


def test_promotion_view_and_dashboard_metadata():
    from embedtune.reporting.evaluation import dashboard_metadata, promotion_html

    decision = {"promoted": False, "reason": "not promoted: gain +0.05 is not significant", "decided_on": "gold",
                "stage": None, "incumbent": None}
    view = promotion_html(decision, with_gold())
    assert "Not promoted" in view and "not significant" in view and "<svg" in view
    assert "-0.0200 [-0.0400, +0.0000]" in view  # the deciding (gold) queries' plot and table
    promoted = promotion_html({**decision, "promoted": True, "stage": "staging", "incumbent": "3",
                               "incumbent_stage": "staging"}, section(10, 0.5, 0.6, 0.1))
    assert "Promoted to staging" in promoted and "version 3" in promoted
    metadata = dashboard_metadata({**full_report(), "decided_on": "synthetic"})
    assert metadata["test_tuned_ndcg@10"] == 0.85 and metadata["test_ndcg@10_gain_ci95"] == [0.03, 0.07]
    assert metadata["test_queries_better_same_worse"] == [30, 60, 10] and metadata["test_bm25_ndcg@10"] == 0.42
    assert metadata["decided_on"] == "synthetic" and "gold_queries" not in metadata
    assert dashboard_metadata(with_gold())["gold_base_ndcg@10"] == 0.61
