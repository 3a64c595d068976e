"""embedtune command line: maps flags onto the pipelines' `with_options(...)`; no logic of its own.

    python run.py run                      # end to end on configs/default.yaml (the docs/ user guide)
    python run.py run --corpus ~/my-docs --export-dir outputs/my-model
    python run.py generate / finetune      # the two halves, e.g. with human review in between
    python run.py evaluate --model all-MiniLM-L6-v2 --model outputs/tuned-model \\
        --benchmark ../shared/data/scifact-dev --split train --output outputs/scifact.json
"""

from __future__ import annotations

import os
import sys

for _key, _value in {
    "HF_HUB_OFFLINE": "1",  # offline by default: a hub lookup without network wastes minutes in retries
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",  # llama.cpp on few cores stalls without it
}.items():
    os.environ.setdefault(_key, _value)

from pathlib import Path

import click

from embedtune import cli_support as support
from embedtune.ingest import corpus_fingerprint

DEFAULT_CONFIG = str(Path(__file__).parent / "configs" / "default.yaml")


def _common(function):
    function = click.option("--export-dir", type=click.Path(file_okay=False), help="Write the tuned model here.")(function)
    function = click.option("--no-cache", is_flag=True, help="Re-run every step instead of reusing results.")(function)
    function = click.option("--corpus", help="Folder or file of documents (overrides ingest.corpus).")(function)
    function = click.option("--config", "config_path", default=DEFAULT_CONFIG, show_default=True, help="Run-config YAML.")(function)
    return function


@click.group()
@click.option("--verbose", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(context: click.Context, verbose: bool) -> None:
    """Fine-tune an embedding model on your own documents, and prove the gain."""
    context.obj = {"verbose": verbose}


def _run_training_pipeline(
    name: str, config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None, curated: bool = False
) -> None:
    support.ensure_zenml_store()  # before `import pipelines`, which already talks to the store
    import pipelines

    config, options = support.prepare(config_path, corpus, needs_corpus=name != "finetune")
    pipeline = {"run": pipelines.end_to_end, "generate": pipelines.generate_data, "finetune": pipelines.finetune}[name]
    if curated:  # pull the reviews from Argilla first (python run.py curate push / status)
        pipeline = pipelines.finetune_curated
    parameters = {"config": config}
    if name != "finetune":
        parameters["corpus_fingerprint"] = corpus_fingerprint(config.ingest)
    with support.options_file(options, no_cache) as options_path:
        run = pipeline.with_options(config_path=options_path)(**parameters)
    support.summarise_training_run(run, export_dir)


@cli.command("run")
@_common
def run_command(config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None) -> None:
    """End to end: documents -> synthetic pairs -> fine-tune -> evaluate -> promote."""
    _run_training_pipeline("run", config_path, corpus, no_cache, export_dir)


@cli.command("generate")
@_common
def generate_command(config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None) -> None:
    """Documents -> chunks -> synthetic queries -> filtered pairs with hard negatives."""
    _run_training_pipeline("generate", config_path, corpus, no_cache, export_dir)


@cli.command("finetune")
@_common
@click.option("--curated", is_flag=True, help="Train on the pairs as reviewed in Argilla (see `curate`).")
def finetune_command(
    config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None, curated: bool
) -> None:
    """Train and evaluate on the latest generated pairs (run `generate` first)."""
    _run_training_pipeline("finetune", config_path, corpus, no_cache, export_dir, curated)


@cli.command("evaluate")
@click.option("--model", "models", multiple=True, required=True, help="Model id or path; repeat to compare.")
@click.option("--benchmark", required=True, type=click.Path(), help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv to use.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the metrics as JSON here.")
@click.option("--config", "config_path", default=DEFAULT_CONFIG, show_default=True)
@click.option("--no-cache", is_flag=True)
def evaluate_command(models: tuple[str, ...], benchmark: str, split: str, output: str | None, config_path: str, no_cache: bool) -> None:
    """NDCG@10, MRR@10, Recall@1/5/10, MAP@100 of any models on a BEIR-format benchmark."""
    support.ensure_zenml_store()
    import pipelines

    config, options = support.prepare(config_path, None, needs_corpus=False)
    resolved = support.check_benchmark_inputs(list(models), benchmark, split)
    with support.options_file(options, no_cache) as options_path:
        run = pipelines.evaluate_benchmark_pipeline.with_options(config_path=options_path)(config=config, models=resolved, benchmark_dir=str(Path(benchmark).resolve()), split=split)
    support.summarise_benchmark_run(run, output)


@cli.command("samples")
@click.option("--n", "count", default=20, show_default=True, help="How many pairs.")
@click.option("--seed", default=0, show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Markdown file to write.")
def samples_command(count: int, seed: int, output: str) -> None:
    """Write a random sample of the latest generated pairs as markdown, to judge their quality."""
    path = support.write_samples(count, seed, output, command=" ".join(["python run.py", *sys.argv[1:]]))
    click.echo(f"wrote {path}")


import commands  # sub-command groups live in commands/, one module per concern

commands.register(cli)


def main() -> None:
    verbose = "--verbose" in sys.argv
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except Exception as error:
        message = support.user_facing_message(error)
        if message is None or verbose:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
