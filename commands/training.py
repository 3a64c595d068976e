"""`run`, `generate`, `finetune` (the training pipelines) and `samples` (a look at the generated pairs)."""

from __future__ import annotations

import sys

import click

from commands import support
from commands.options import training_options
from embedtune.util.io import check_export_dir


def run_training_pipeline(
    name: str, config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None, curated: bool = False
) -> None:
    """Validate (the export folder first: a bad one is refused before any work), run the named training
    pipeline (`support.PIPELINES`), then summarise it."""
    if export_dir:
        check_export_dir(export_dir)
    support.ensure_zenml_store()  # before `import pipelines`, which already talks to the store
    from embedtune.data.ingest import corpus_fingerprint

    needs_corpus = name != "finetune"
    config, options = support.prepare(config_path, corpus, needs_corpus=needs_corpus)
    if not needs_corpus:
        support.require_artifacts("training_triplets", "chunks")  # made by `generate`
    pipeline = support.training_pipeline("finetune_curated" if curated else name)
    parameters = {"config": config}
    if needs_corpus:
        parameters["corpus_fingerprint"] = corpus_fingerprint(config.ingest)
    with support.options_file(options, no_cache) as options_path:
        run = pipeline.with_options(config_path=options_path)(**parameters)
    support.summarise_training_run(run, export_dir)


@click.command("run")
@training_options
def run_command(config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None) -> None:
    """End to end: documents -> synthetic pairs -> fine-tune -> evaluate -> promote."""
    run_training_pipeline("end_to_end", config_path, corpus, no_cache, export_dir)


@click.command("generate")
@training_options
def generate_command(config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None) -> None:
    """Documents -> chunks -> synthetic queries -> filtered pairs with hard negatives."""
    run_training_pipeline("generate", config_path, corpus, no_cache, export_dir)


@click.command("finetune")
@training_options
@click.option("--curated", is_flag=True, help="Train on the pairs as reviewed in Argilla (see `curate`).")
def finetune_command(
    config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None, curated: bool
) -> None:
    """Train and evaluate on the latest generated pairs (run `generate` first)."""
    run_training_pipeline("finetune", config_path, corpus, no_cache, export_dir, curated)


@click.command("samples")
@click.option("--n", "count", default=20, show_default=True, help="How many pairs.")
@click.option("--seed", default=0, show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Markdown file to write.")
def samples_command(count: int, seed: int, output: str) -> None:
    """Write a random sample of the latest generated pairs as markdown, to judge their quality."""
    path = support.write_samples(count, seed, output, command=" ".join(["python run.py", *sys.argv[1:]]))
    click.echo(f"wrote {path}")


COMMANDS = [run_command, generate_command, finetune_command, samples_command]
