"""`python run.py compare`: a leaderboard of candidate base models on your own data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

DEFAULT_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
PRECISIONS = ("float32", "int8", "binary", "binary_rescore")


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
@click.option("--config", "config_path", default=DEFAULT_CONFIG, show_default=True, help="Run-config YAML.")
@click.option("--no-cache", is_flag=True)
def compare(models, benchmark, split, max_queries, max_corpus, rule, tolerance, precisions, output, use_best,
            config_path, no_cache) -> None:
    """Rank candidate base models: NDCG@10 / MRR@10 / Recall@10 with CIs, speed, size per 1M chunks."""
    from embedtune import cli_support as support
    from embedtune import compare as leaderboard_logic
    from embedtune.config import load_run_config

    config, options = load_run_config(config_path)
    options.pop("model", None)  # a leaderboard is not a version of the tuned model
    overrides = {"max_queries": max_queries, "max_corpus": max_corpus, "rule": rule, "tolerance": tolerance,
                 "precisions": list(precisions) or None}
    for key, value in overrides.items():
        if value is not None:
            setattr(config.compare, key, value)
    candidates = leaderboard_logic.check_inputs(list(models), benchmark, split)
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
    leaderboard_logic.summarise(leaderboard, output, use_best, config_path,
                                command=" ".join(["python run.py", *sys.argv[1:]]))
