"""`python run.py evaluate`: any models on a BEIR-format benchmark with human relevance labels."""

from __future__ import annotations

from pathlib import Path

import click

from commands import support
from commands.options import config_option, no_cache_option


@click.command("evaluate")
@click.option("--model", "models", multiple=True, required=True, help="Model id or path; repeat to compare.")
@click.option("--benchmark", required=True, type=click.Path(), help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv to use.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the metrics as JSON here.")
@config_option
@no_cache_option
def evaluate_command(
    models: tuple[str, ...], benchmark: str, split: str, output: str | None, config_path: str, no_cache: bool
) -> None:
    """NDCG@10, MRR@10, Recall@1/5/10, MAP@100 of any models on a BEIR-format benchmark."""
    support.ensure_zenml_store()
    import pipelines

    config, options = support.prepare(config_path, None, needs_corpus=False)
    resolved = support.check_benchmark_inputs(list(models), benchmark, split)
    from embedtune.models.api import check_api_models, settings_from_config

    check_api_models(resolved, settings_from_config(config.compare))  # no key: one line, before any work
    with support.options_file(options, no_cache) as options_path:
        run = pipelines.evaluate_benchmark_pipeline.with_options(config_path=options_path)(
            config=config, models=resolved, benchmark_dir=str(Path(benchmark).resolve()), split=split
        )
    support.summarise_benchmark_run(run, output)


COMMANDS = [evaluate_command]
