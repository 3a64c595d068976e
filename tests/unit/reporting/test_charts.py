"""The NDCG@10 chart: valid SVG, a bar per model and dim, CI whiskers."""

import re
import xml.etree.ElementTree as ET

from embedtune.reporting import charts as visualization
from embedtune.reporting import evaluation as report

METRICS = {"recall@1": 0.1, "recall@5": 0.2, "recall@10": 0.3, "map@100": 0.2}


def a_report():
    return {
        "n_queries": 10,
        "n_corpus": 50,
        "models": {
            "base": {"64": {"ndcg@10": 0.40, "mrr@10": 0.3, **METRICS}, "32": {"ndcg@10": 0.30, "mrr@10": 0.2, **METRICS}},
            "tuned": {"64": {"ndcg@10": 0.55, "mrr@10": 0.5, **METRICS}, "32": {"ndcg@10": 0.42, "mrr@10": 0.4, **METRICS}},
        },
        "gains": {"tuned": {
            "64": {"ndcg@10": {"gain": 0.15, "ci_low": 0.05, "ci_high": 0.25}},
            "32": {"ndcg@10": {"gain": 0.12, "ci_low": -0.02, "ci_high": 0.20}},
        }},
    }


def test_chart_is_valid_svg_with_a_bar_per_model_and_dimension_and_a_ci_whisker_per_gain():
    svg = visualization.metric_chart_svg(a_report())
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert {"base dim 64: 0.4000", "tuned dim 64: 0.5500", "base dim 32: 0.3000", "tuned dim 32: 0.4200"} <= set(titles)
    assert "gain +0.1500, 95% CI [+0.0500, +0.2500]" in titles
    assert "gain +0.1200, 95% CI [-0.0200, +0.2000]" in titles
    assert "dim 64" in svg and "dim 32" in svg and svg.index("dim 64") < svg.index("dim 32")


def test_ci_whisker_spans_baseline_plus_the_ci_bounds():
    svg = visualization.metric_chart_svg(a_report(), height=300)
    # plot area: top 28, height 300 - 28 - 40 = 232; y(v) = 28 + 232 * (1 - v)
    whisker = re.search(r"<g stroke='#222' stroke-width='1.2'><line x1='[\d.]+' x2='[\d.]+' y1='([\d.]+)' y2='([\d.]+)'/>", svg)
    high, low = float(whisker.group(1)), float(whisker.group(2))
    assert abs(high - (28 + 232 * (1 - 0.65))) < 0.1 and abs(low - (28 + 232 * (1 - 0.45))) < 0.1


def test_evaluation_html_holds_the_chart_and_the_table():
    page = report.to_html(a_report())
    assert "<svg" in page and "NDCG@10 per Matryoshka dimension" in page
    assert "<table>" in page and "+0.1500 [+0.0500, +0.2500]" in page
