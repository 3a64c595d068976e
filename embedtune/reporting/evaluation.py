"""Human-readable renderings of an evaluation report: THE REPORT HTML (dashboard, outputs/), the terminal table
and headline, and the model version's metadata.

A report holds the held-out synthetic results at its top level and, when the run has a gold set, the gold
results under `gold` (same shape, plus where the set came from and what could not be mapped); `decided_on`
says which of the two the promotion decides on.

Optional parts, each rendered when present (the evaluate step adds them; older reports lack them):
`run` (run_name, date, pipeline, base_model, corpus, model_version), per section `per_query`
(`embedtune.reporting.outcomes.compare_queries`) and `baselines` (`{"bm25": outcomes.baseline_row}`),
and `training` (the training step's metrics; a transformers `log_history` list there is drawn as curves).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from embedtune.evaluation.metrics import METRICS
from embedtune.reporting.charts import forest_plot_svg, line_chart_svg, page


def _sorted_dims(by_dim: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(by_dim.items(), key=lambda item: -int(item[0]))


def _gain(report: Mapping[str, Any], name: str, dim: str) -> Mapping[str, float] | None:
    return report.get("gains", {}).get(name, {}).get(dim, {}).get("ndcg@10")


def _html_table(report: Mapping[str, Any]) -> str:
    """Mean metrics per model x dimension with the NDCG@10 gain; keyword baselines (BM25) as extra rows,
    their gain column holding tuned's gain over them."""
    rows = []
    for name, by_dim in report["models"].items():
        for dim, values in _sorted_dims(by_dim):
            gain = _gain(report, name, dim)
            gain_cell = (
                f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else "baseline"
            )
            cells = "".join(f"<td class='num'>{values[m]:.4f}</td>" for m in METRICS)
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{dim}</td>{cells}<td>{gain_cell}</td></tr>")
    for name, baseline in report.get("baselines", {}).items():
        cells = "".join(f"<td class='num'>{baseline['metrics'].get(m, float('nan')):.4f}</td>" for m in METRICS)
        versus = baseline.get("tuned_gain", {}).get("ndcg@10")
        gain_cell = (
            f"tuned vs {html.escape(name)}: {versus['gain']:+.4f} [{versus['ci_low']:+.4f}, {versus['ci_high']:+.4f}]"
            if versus else ""
        )
        rows.append(f"<tr class='baseline'><td>{html.escape(name)} (keywords)</td><td>-</td>{cells}"
                    f"<td>{gain_cell}</td></tr>")
    head = "".join(f"<th>{m}</th>" for m in METRICS)
    return f"<table><tr><th>model</th><th>dim</th>{head}<th>NDCG@10 gain</th></tr>{''.join(rows)}</table>"


def _decision_html(report: Mapping[str, Any]) -> str:
    decided = report.get("decision_queries")
    if not decided:
        return ""
    label = "gold (human-judged) queries" if report.get("decided_on") == "gold" else "held-out synthetic queries"
    return f"<p><b>Promotion decides on {label}:</b> {html.escape(str(decided))}</p>"


def _rank(value: Any) -> str:
    return "-" if value is None else str(value)


def _per_query_html(section: Mapping[str, Any]) -> str:
    """Win/tie/loss counts and the best and worst queries with the relevant passage's rank before/after."""
    outcome = section.get("per_query")
    if not outcome:
        return ""
    total = outcome["wins"] + outcome["ties"] + outcome["losses"]
    metric = html.escape(str(outcome.get("metric", "ndcg@10")).upper())
    parts = [
        (f"<p><b>Per query ({metric}, tuned vs base):</b> <span class='kept'>{outcome['wins']} better</span>, "
        f"{outcome['ties']} the same, <span class='dropped'>{outcome['losses']} worse</span> of {total} queries.</p>")
    ]
    for key, label in (("best", "Most improved"), ("worst", "Most worsened")):
        rows = "".join(
            f"<tr><td>{html.escape(str(item['query']))}</td><td>{html.escape(str(item['source']))}</td>"
            f"<td class='num'>{_rank(item['rank_base'])}</td><td class='num'>{_rank(item['rank_tuned'])}</td>"
            f"<td class='num'>{item['base']:.3f} &rarr; {item['tuned']:.3f}</td></tr>"
            for item in outcome.get(key, [])
        )
        if rows:
            parts.append(
                f"<p>{label}:</p><table><tr><th>query</th><th>relevant passage from</th><th>rank before</th>"
                f"<th>rank after</th><th>{metric}</th></tr>{rows}</table>"
            )
        else:
            parts.append(f"<p>{label}: none.</p>")
    return "".join(parts)


def _section_html(section: Mapping[str, Any]) -> str:
    return f"{forest_plot_svg(section)}{_html_table(section)}{_per_query_html(section)}"


def _gold_html(gold: Mapping[str, Any]) -> str:
    small = (
        f"<p><b>Too small to decide:</b> {gold['n_queries']} queries, fewer than evaluation.gold_min_queries="
        f"{gold['min_queries']}.</p>" if gold.get("too_small") else ""
    )
    unmapped = ""
    if gold.get("unmapped_count"):
        items = "".join(
            f"<li>{html.escape(str(item['where']))}: {html.escape(str(item['reason']))}</li>" for item in gold["unmapped"]
        )
        more = gold["unmapped_count"] - len(gold["unmapped"])
        unmapped = (
            f"<p>{gold['unmapped_count']} judgments could not be mapped onto the chunks"
            f"{f' ({more} more not listed)' if more > 0 else ''}:</p><ul>{items}</ul>"
        )
    return (
        f"<h3>Gold queries (human-judged): {html.escape(str(gold.get('source', '')))}</h3>"
        f"<p>{gold['n_queries']} of {gold.get('queries_in_file', gold['n_queries'])} queries mapped "
        f"({gold.get('relevant_chunks', '?')} relevant chunks); {gold['n_corpus']} candidate passages.</p>"
        f"{small}{_section_html(gold)}{unmapped}"
    )


IDENTITY_FIELDS = (
    ("run_name", "run"), ("date", "date"), ("pipeline", "pipeline"), ("base_model", "base model"),
    ("corpus", "corpus"), ("model_version", "model version"),
)


def _identity_html(report: Mapping[str, Any]) -> str:
    identity = report.get("run") or {}
    cells = "".join(
        f"<tr><th>{label}</th><td>{html.escape(str(identity[key]))}</td></tr>"
        for key, label in IDENTITY_FIELDS if identity.get(key) not in (None, "")
    )
    return f"<table class='identity'>{cells}</table>" if cells else ""


def training_curves(history: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """From a transformers log history (dicts with `step` and `loss`, or `eval_..._ndcg@10`): the training
    loss and the validation NDCG@10 as (step, value) series; empty series are left out."""
    loss, validation = [], []
    for entry in history:
        step = entry.get("step")
        if step is None:
            continue
        if isinstance(entry.get("loss"), (int, float)):
            loss.append((float(step), float(entry["loss"])))
        ndcg = next((v for k, v in entry.items() if k.startswith("eval_") and k.endswith("ndcg@10")), None)
        if isinstance(ndcg, (int, float)):
            validation.append((float(step), float(ndcg)))
    curves = {"training loss": loss, "validation NDCG@10": validation}
    return {name: values for name, values in curves.items() if values}


TRAINING_SUMMARY = (
    ("train_pairs", "training pairs"), ("validation_pairs", "validation pairs"), ("loss", "loss"),
    ("global_steps", "optimizer steps"), ("train_loss", "mean training loss"),
    ("best_validation_ndcg@10", "best validation NDCG@10 (picks the checkpoint)"),
    ("best_checkpoint", "best checkpoint"), ("train_seconds", "seconds"), ("device", "device"),
)


def _training_html(training: Mapping[str, Any] | None) -> str:
    if not training:
        return ""
    summary = "".join(
        f"<tr><th>{label}</th><td>{html.escape(str(training[key]))}</td></tr>"
        for key, label in TRAINING_SUMMARY if key in training
    )
    history = training.get("log_history") or training.get("history") or []
    curves = training_curves(history) if isinstance(history, Sequence) else {}
    charts = "".join(line_chart_svg({name: values}, name) for name, values in curves.items())
    note = "" if curves else (
        "<p class='note'>No per-step curve: the training metrics of this run carry no log history "
        "(loss and validation NDCG@10 per step go to MLflow when the stack has its tracker).</p>"
    )
    return f"<h3>Training</h3><div class='side'>{charts}</div>{note}<table>{summary}</table>"


def to_html(report: Mapping[str, Any], title: str = "embedtune evaluation") -> str:
    """The report page: who/what/when (run identity), the promotion decision, then per query set (held-out
    synthetic, and gold when present) a forest plot of the gains with their 95% CIs, the metrics table (with
    BM25), per-query wins/ties/losses with the best and worst queries; last, the training curves."""
    decision = report.get("promotion", {})
    verdict = f"<p><b>Promotion:</b> {html.escape(str(decision.get('reason', 'not decided')))}</p>" if decision else ""
    gold = report.get("gold")
    gold_part = _gold_html(gold) if gold else "<h3>Gold queries</h3><p>No gold set (evaluation.gold): see docs/gold-sets.md.</p>"
    synthetic_title = "Held-out synthetic queries" if "decided_on" in report or gold else "Held-out queries"
    return page(title, (
        f"{_identity_html(report)}{_decision_html(report)}{verdict}"
        "<p>gain = tuned minus base; the line is its paired bootstrap 95% CI. Green: the whole interval is "
        "above zero (a real gain); red: below; grey: it crosses zero (no proven difference).</p>"
        "<div class='side'><div>"
        f"<h3>{synthetic_title}</h3>"
        f"<p>{report['n_queries']} held-out queries; {report['n_corpus']} candidate passages.</p>"
        f"{_section_html(report)}</div><div>{gold_part}</div></div>"
        f"{_training_html(report.get('training'))}"
    ))


def _text_table(report: Mapping[str, Any]) -> list[str]:
    header = f"{'model':<40} {'dim':>5} " + " ".join(f"{m:>9}" for m in METRICS) + "   NDCG@10 gain [95% CI]"
    lines = [header, "-" * len(header)]
    for name, by_dim in report["models"].items():
        for dim, values in _sorted_dims(by_dim):
            gain = _gain(report, name, dim)
            gain_text = f"   {gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else ""
            label = name if len(name) <= 40 else "..." + name[-37:]
            lines.append(f"{label:<40} {dim:>5} " + " ".join(f"{values[m]:9.4f}" for m in METRICS) + gain_text)
    for name, baseline in report.get("baselines", {}).items():
        versus = baseline.get("tuned_gain", {}).get("ndcg@10")
        note = f"   tuned {versus['gain']:+.4f} [{versus['ci_low']:+.4f}, {versus['ci_high']:+.4f}]" if versus else ""
        lines.append(f"{name + ' (keywords)':<40} {'-':>5} "
                     + " ".join(f"{baseline['metrics'].get(m, float('nan')):9.4f}" for m in METRICS) + note)
    lines.append(f"({report['n_queries']} queries, {report['n_corpus']} candidate passages)")
    return lines


def format_table(report: Mapping[str, Any]) -> str:
    """A plain-text table: one row per model x dimension, gains with their 95% CI; a second table for the gold
    queries when the report has them (with the unmappable judgments counted)."""
    gold = report.get("gold")
    if not gold:
        return "\n".join(_text_table(report))
    lines = ["Held-out synthetic queries", *_text_table(report), "", f"Gold queries ({gold.get('source', '')})"]
    lines += _text_table(gold)
    if gold.get("unmapped_count"):
        first = gold["unmapped"][0]
        lines.append(
            f"{gold['unmapped_count']} gold judgments could not be mapped ({gold.get('dropped_queries', 0)} queries "
            f"dropped); first: {first['where']}: {first['reason']}"
        )
    return "\n".join(lines)


def _ndcg_line(report: Mapping[str, Any], label: str) -> str:
    dim = max(report["models"]["tuned"], key=int)
    base, tuned = report["models"]["base"][dim]["ndcg@10"], report["models"]["tuned"][dim]["ndcg@10"]
    gain = _gain(report, "tuned", dim)
    ci = f" (gain {gain['gain']:+.4f}, 95% CI {gain['ci_low']:+.4f} to {gain['ci_high']:+.4f})" if gain else ""
    return f"NDCG@10 on {label}: base {base:.4f} -> tuned {tuned:.4f}{ci}"


def headline(report: Mapping[str, Any], promotion: Mapping[str, Any]) -> str:
    """The run's last words: NDCG@10 on the synthetic and the gold queries, and the promotion reason (which
    says which queries decided)."""
    lines = [_ndcg_line(report, f"{report['n_queries']} held-out synthetic queries")]
    gold = report.get("gold")
    if gold:
        small = " - too small to decide" if gold.get("too_small") else ""
        lines.append(_ndcg_line(gold, f"{gold['n_queries']} gold queries{small}"))
    else:
        lines.append("No gold set: the decision rests on synthetic queries (set evaluation.gold; docs/gold-sets.md).")
    lines.append(f"Promotion: {promotion.get('reason', 'not decided')}")
    return "\n".join(lines)


def model_version_metadata(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the evaluate step attaches to the model version: headline numbers (synthetic as `base_ndcg@10`
    ..., gold as `gold_base_ndcg@10` ...), every metric per dim and the gains with their CIs."""

    def part(section: Mapping[str, Any], prefix: str, count: str) -> dict[str, Any]:
        dim = max(section["models"]["tuned"], key=int)
        gain = section["gains"]["tuned"][dim]["ndcg@10"]
        return {
            f"{prefix}base_ndcg@10": section["models"]["base"][dim]["ndcg@10"],
            f"{prefix}tuned_ndcg@10": section["models"]["tuned"][dim]["ndcg@10"],
            f"{prefix}ndcg@10_gain": gain["gain"],
            f"{prefix}ndcg@10_gain_ci95": [gain["ci_low"], gain["ci_high"]],
            count: section["n_queries"],
            f"{prefix}metrics": {name: by_dim for name, by_dim in section["models"].items()},
            f"{prefix}gains_ci95": section["gains"],  # per dimension: NDCG@10, MRR@10, Recall@10 gain with its CI
        }

    metadata = part(report, "", "test_queries")
    gold = report.get("gold")
    if gold:
        metadata.update(part(gold, "gold_", "gold_queries"))
        metadata.update(gold_source=gold.get("source"), gold_unmapped=gold.get("unmapped_count", 0),
                        gold_too_small=bool(gold.get("too_small")))
    if "decided_on" in report:
        metadata.update(decided_on=report["decided_on"], decision_queries=report.get("decision_queries"))
    return metadata


def run_config(pipeline_run: Any) -> dict[str, Any]:
    """The run's `config` pipeline parameter (an EmbedtuneConfig) as a plain dict; {} when the run has none.
    `pipeline_run`: a ZenML PipelineRunResponse (duck-typed, so this module needs no ZenML)."""
    try:
        value = pipeline_run.config.parameters.get("config")
    except AttributeError:
        return {}
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return dict(value) if isinstance(value, Mapping) else {}


def run_identity(pipeline_run: Any, model_version: Any, base_model: str) -> dict[str, Any]:
    """`report["run"]`: run name, start date (UTC, ISO), pipeline, base model, corpus and the ZenML model
    version (`name:version`), from a PipelineRunResponse and a ModelVersionResponse (or None)."""
    started = getattr(pipeline_run, "start_time", None) or getattr(pipeline_run, "created", None)
    config = run_config(pipeline_run)
    pipeline = getattr(pipeline_run, "pipeline", None)
    version = None
    if model_version is not None:
        version = f"{model_version.model.name}:{model_version.name}"
    return {
        "run_name": getattr(pipeline_run, "name", None),
        "date": started.strftime("%Y-%m-%d %H:%M UTC") if started else None,
        "pipeline": getattr(pipeline, "name", None),
        "base_model": base_model,
        "corpus": config.get("ingest", {}).get("corpus"),
        "model_version": version,
    }


def dashboard_metadata(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few headline numbers shown on the dashboard's run and step pages (flat, so they read at a glance):
    NDCG@10 of base and tuned at full dimension, the gain and its 95% CI, per query set, and which set
    decides; per-query wins/ties/losses and the BM25 NDCG@10 when the report has them."""

    def part(section: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        dim = max(section["models"]["tuned"], key=int)
        gain = section["gains"]["tuned"][dim]["ndcg@10"]
        values = {
            f"{prefix}queries": section["n_queries"],
            f"{prefix}base_ndcg@10": round(section["models"]["base"][dim]["ndcg@10"], 4),
            f"{prefix}tuned_ndcg@10": round(section["models"]["tuned"][dim]["ndcg@10"], 4),
            f"{prefix}ndcg@10_gain": round(gain["gain"], 4),
            f"{prefix}ndcg@10_gain_ci95": [round(gain["ci_low"], 4), round(gain["ci_high"], 4)],
        }
        outcome = section.get("per_query")
        if outcome:
            values[f"{prefix}queries_better_same_worse"] = [outcome["wins"], outcome["ties"], outcome["losses"]]
        bm25 = section.get("baselines", {}).get("bm25")
        if bm25:
            values[f"{prefix}bm25_ndcg@10"] = round(bm25["metrics"]["ndcg@10"], 4)
        return values

    metadata = part(report, "test_")
    if report.get("gold"):
        metadata.update(part(report["gold"], "gold_"))
    if "decided_on" in report:
        metadata["decided_on"] = report["decided_on"]
    return metadata


def promotion_html(promotion: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    """The promote step's view: the decision in one line (green: promoted, red: not), the reason, the
    queries it rests on with their forest plot, and the incumbent it was compared with."""
    promoted = bool(promotion.get("promoted"))
    headline_text = f"Promoted to {promotion.get('stage')}" if promoted else "Not promoted"
    colour = "#1f7a35" if promoted else "#b3261e"
    deciding = report.get("gold") if promotion.get("decided_on") == "gold" and report.get("gold") else report
    incumbent = (
        f"<p>Compared with the current {html.escape(str(promotion.get('incumbent_stage')))} version "
        f"{html.escape(str(promotion.get('incumbent')))}.</p>" if promotion.get("incumbent") else
        "<p>No incumbent version held the stage: compared with the base model only.</p>"
    )
    return page("Promotion decision", (
        f"<p class='decision' style='font-size:20px;font-weight:bold;color:{colour}'>{html.escape(headline_text)}</p>"
        f"<p>{html.escape(str(promotion.get('reason', '')))}</p>"
        f"<p>Decided on: {html.escape(str(report.get('decision_queries') or promotion.get('decided_on', '')))}</p>"
        f"{incumbent}{forest_plot_svg(deciding)}{_html_table(deciding)}"
    ))
