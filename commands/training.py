"""`run`, `generate`, `finetune` (the training pipelines) and `samples` (a look at the generated pairs).

Each takes only the options it uses (`commands.options`): `generate` makes no model, so it has no
`--export-dir`; `finetune` trains on the latest generated pairs, so it has no `--corpus`.
"""

from __future__ import annotations

import sys

import click

from commands import support
from commands.options import config_option, finetune_options, generate_options, run_options
from embedtune.util.io import check_export_dir


def run_training_pipeline(
    name: str, config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None, curated: bool = False
) -> None:
    """Validate (the export folder first: a bad one is refused before any work), log the run-time estimate
    (`run` and `generate`, which generate queries), run the named training pipeline (`support.PIPELINES`),
    then summarise it."""
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
        support.log_run_estimate(config, trains=name == "end_to_end")
    with support.options_file(options, no_cache) as options_path:
        run = pipeline.with_options(config_path=options_path)(**parameters)
    support.summarise_training_run(run, export_dir, config)


@click.command("run")
@run_options
def run_command(config_path: str, corpus: str | None, no_cache: bool, export_dir: str | None) -> None:
    """End to end: documents -> synthetic pairs -> fine-tune -> evaluate -> promote."""
    run_training_pipeline("end_to_end", config_path, corpus, no_cache, export_dir)


@click.command("generate")
@generate_options
def generate_command(config_path: str, corpus: str | None, no_cache: bool) -> None:
    """Documents -> chunks -> synthetic queries -> filtered pairs with hard negatives (no model: see `finetune`)."""
    run_training_pipeline("generate", config_path, corpus, no_cache, None)


@click.command("finetune")
@finetune_options
@click.option("--curated", is_flag=True, help="Train on the pairs as reviewed in Argilla (see `curate`).")
def finetune_command(config_path: str, no_cache: bool, export_dir: str | None, curated: bool) -> None:
    """Train and evaluate on the latest generated pairs (run `generate` first; its --corpus decides them)."""
    run_training_pipeline("finetune", config_path, None, no_cache, export_dir, curated)


@click.command("samples")
@config_option
@click.option("-n", "--count", default=20, show_default=True, type=click.IntRange(min=1), help="How many pairs.")
@click.option("--seed", default=0, show_default=True, help="Sampling seed: the same seed gives the same pairs.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Markdown file to write. Default: outputs/<run>/samples.md, beside the report of the run "
              "that generated the pairs.")
def samples_command(config_path: str, count: int, seed: int, output: str | None) -> None:
    """Write a seeded sample of the latest generated pairs of --config's ZenML model (`model.name`) as markdown,
    each marked kept or dropped by the filters, to judge the generator's quality."""
    support.ensure_zenml_store()
    model_name = support.zenml_model_name(config_path)
    program = "python run.py" if sys.argv[0].endswith("run.py") else "embedtune"
    command = " ".join([program, *sys.argv[1:]])
    path = support.write_samples(count, seed, output, command=command, model_name=model_name)
    click.echo(f"wrote {path}")


COMMANDS = [run_command, generate_command, finetune_command, samples_command]
