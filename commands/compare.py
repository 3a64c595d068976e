"""`python run.py compare`: a leaderboard of candidate base models on your own data."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from commands.options import config_option, no_cache_option
from embedtune import EmbedtuneError

PRECISIONS = ("float32", "int8", "binary", "binary_rescore")  # embedtune.evaluation.quantization.PRECISIONS


@click.command("compare")
@click.option("--model", "models", multiple=True, required=True,
              help="Model id, local folder, or API model (openai:text-embedding-3-small); repeat per candidate.")
@click.option("--benchmark", type=click.Path(), help="BEIR folder; default: the latest held-out synthetic test "
              "queries and chunks in ZenML.")
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv of --benchmark.")
@click.option("--max-queries", type=click.IntRange(min=1), help="Seeded sample of queries (compare.max_queries).")
@click.option("--max-corpus", type=click.IntRange(min=1),
              help="Passages: all relevant ones + seeded distractors up to this (compare.max_corpus).")
@click.option("--rule", type=click.Choice(["quality", "quality_per_byte"]), help="How the best is picked.")
@click.option("--tolerance", type=click.FloatRange(0, 1),
              help="quality_per_byte: NDCG@10 below the best that still counts as good (compare.tolerance).")
@click.option("--precision", "precisions", multiple=True, type=click.Choice(PRECISIONS),
              help="Index precisions to measure (default: all).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the leaderboard as JSON here (+ .md beside).")
@click.option("--use-best", type=click.Path(dir_okay=False),
              help="Write a copy of --config with the best local model as model.base_model, for `finetune`.")
@config_option
@no_cache_option
def compare(models, benchmark, split, max_queries, max_corpus, rule, tolerance, precisions, output, use_best,
            config_path, no_cache) -> None:
    """Rank candidate base models: NDCG@10 / MRR@10 / Recall@10 with CIs, speed, size per 1M chunks."""
    from commands import support
    from embedtune.config import load_run_config

    config, options = load_run_config(config_path)
    support.check_config_urls(config)
    options.pop("model", None)  # a leaderboard is not a version of the tuned model
    overrides = {"max_queries": max_queries, "max_corpus": max_corpus, "rule": rule, "tolerance": tolerance,
                 "precisions": list(precisions) or None}
    for key, value in overrides.items():
        if value is not None:
            setattr(config.compare, key, value)
    candidates = check_inputs(list(models), benchmark, split)
    from pipelines.compare import compare_models

    with support.options_file(options, no_cache) as options_path:
        run = compare_models.with_options(config_path=options_path)(
            config=config, models=candidates, benchmark_dir=str(Path(benchmark).resolve()) if benchmark else "",
            split=split,
        )
    from zenml.client import Client

    run = Client().get_pipeline_run(run.id)
    outputs = run.steps["compare_candidates"].outputs["leaderboard"]
    leaderboard = (outputs[0] if isinstance(outputs, list) else outputs).load()
    summarise(leaderboard, output, use_best, config_path, command=" ".join(["python run.py", *sys.argv[1:]]))


def check_inputs(models: Sequence[str], benchmark: str | None, split: str) -> list[str]:
    """Fail before any work on an unknown local model or a missing benchmark; local folders made absolute."""
    from commands import support

    if benchmark:
        support.check_benchmark_folder(benchmark, split)
    else:
        from zenml.client import Client

        for name in ("test", "chunks"):
            try:
                Client().get_artifact_version(name)
            except KeyError:
                raise EmbedtuneError(
                    f"no '{name}' artifact in ZenML yet: run `python run.py run` (or generate + finetune) first, "
                    "or pass --benchmark DIR --split S"
                ) from None
    return support.resolve_model_args(list(models))


def summarise(leaderboard: dict[str, Any], output: str | None, use_best: str | None, config_path: str,
              command: str) -> None:
    """Print the table and the pick; write JSON + markdown and the run config for `finetune` if asked."""
    import datetime

    leaderboard["command"] = command
    leaderboard.setdefault("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    from embedtune.evaluation.leaderboard import write_best_config
    from embedtune.reporting.leaderboard import format_leaderboard, to_markdown

    print(format_leaderboard(leaderboard))
    if output:
        from embedtune.util.io import write_json

        json_path = write_json(leaderboard, output)
        markdown_path = json_path.with_suffix(".md")
        markdown_path.write_text(to_markdown(leaderboard), encoding="utf-8")
        print(f"Leaderboard written to {json_path} and {markdown_path}")
    best = leaderboard.get("best_for_finetune")
    if not best:
        print("No local candidate to fine-tune from (API and non-commercial models are not picked).")
        return
    if use_best:
        path = write_best_config(leaderboard, config_path, use_best)
        print(f"Run config with model.base_model = {best['spec']} written to {path}")
        print(f"Next: python run.py finetune --config {path}")
    else:
        print(f"To fine-tune it: python run.py compare ... --use-best configs/best-base.yaml, then "
              f"python run.py finetune --config configs/best-base.yaml (sets model.base_model: {best['spec']})")


COMMANDS = [compare]
