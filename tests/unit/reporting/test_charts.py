"""The forest plot of gains (an axis fitted to the gains, a zero line, a CI line per dim) and the line chart."""

import re
import xml.etree.ElementTree as ET

from embedtune.reporting import charts as visualization
from embedtune.reporting import evaluation as report

SVG = "{http://www.w3.org/2000/svg}"
METRICS = {"recall@1": 0.1, "recall@5": 0.2, "recall@10": 0.3, "map@100": 0.2}


def a_report():
    return {
        "n_queries": 10,
        "n_corpus": 50,
        "models": {
            "base": {"64": {"ndcg@10": 0.40, "mrr@10": 0.3, **METRICS}, "32": {"ndcg@10": 0.30, "mrr@10": 0.2, **METRICS}},
            "tuned": {"64": {"ndcg@10": 0.43, "mrr@10": 0.5, **METRICS}, "32": {"ndcg@10": 0.29, "mrr@10": 0.4, **METRICS}},
        },
        "gains": {"tuned": {
            "64": {"ndcg@10": {"gain": 0.03, "ci_low": 0.01, "ci_high": 0.05}},
            "32": {"ndcg@10": {"gain": -0.01, "ci_low": -0.04, "ci_high": 0.02}},
        }},
    }


def _x_of_line(svg: str, css_class: str) -> float:
    return float(re.search(rf"<line class='{css_class}' x1='([\d.]+)'", svg).group(1))


def test_forest_plot_is_valid_svg_with_a_row_per_dimension_largest_first_and_a_zero_line():
    svg = visualization.forest_plot_svg(a_report())
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles == ["dim 64: gain +0.0300 [+0.0100, +0.0500]", "dim 32: gain -0.0100 [-0.0400, +0.0200]"]
    rows = root.findall(f"{SVG}g")
    assert [row.get("stroke") for row in rows] == ["#1f7a35", "#555555"]  # significant gain; crosses zero
    zero = _x_of_line(svg, "zero")
    circles = [float(c.get("cx")) for c in root.iter(f"{SVG}circle")]
    assert circles[0] > zero > circles[1]  # +0.03 right of the zero line, -0.01 left of it


def test_forest_plot_axis_fits_the_gains_so_a_small_gain_is_not_squashed():
    svg = visualization.forest_plot_svg(a_report(), width=640)
    root = ET.fromstring(svg)
    row = root.findall(f"{SVG}g")[0]
    ci_line = row.findall(f"{SVG}line")[0]
    width = float(ci_line.get("x2")) - float(ci_line.get("x1"))
    assert width > 60  # a 0.04-wide CI spans a good part of the 340-pixel plot, not 0.04 of it


def test_forest_plot_marks_a_gain_entirely_below_zero_red_and_is_empty_without_gains():
    worse = a_report()
    worse["gains"]["tuned"]["64"]["ndcg@10"] = {"gain": -0.05, "ci_low": -0.08, "ci_high": -0.02}
    assert "#b3261e" in visualization.forest_plot_svg(worse)
    assert visualization.forest_plot_svg({"models": {}, "gains": {}}) == ""


def test_line_chart_draws_each_series_in_step_order():
    svg = visualization.line_chart_svg({"training loss": [(2, 1.5), (1, 2.5), (3, 1.0)]}, "loss")
    root = ET.fromstring(svg)
    (line,) = root.iter(f"{SVG}polyline")
    xs = [float(point.split(",")[0]) for point in line.get("points").split()]
    assert xs == sorted(xs) and len(xs) == 3
    assert visualization.line_chart_svg({}, "empty") == ""


def test_evaluation_html_holds_the_forest_plot_and_the_table():
    page = report.to_html(a_report())
    assert "<svg" in page and "NDCG@10 gain over base per Matryoshka dimension (95% CI)" in page
    assert "<table>" in page and "+0.0300 [+0.0100, +0.0500]" in page
