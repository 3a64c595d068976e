"""`curate`: human review of the generated pairs in Argilla.

python run.py curate push            # generate_data (cached steps reused) -> push_to_argilla
python run.py curate push --latest   # push the latest `training_triplets` artifact, generate nothing
python run.py curate status          # submitted / pending / discarded per dataset
python run.py finetune --curated     # pull the reviews back and train on them
"""

from __future__ import annotations

import click

from commands import support
from commands.options import config_option, corpus_option, no_cache_option
from embedtune import EmbedtuneError


def _require_argilla(config) -> None:
    from embedtune.curation.argilla import not_configured_message, resolve_connection

    if resolve_connection(config.curation) is None:
        raise EmbedtuneError(not_configured_message(config.curation))


def _require_pairs() -> None:
    from zenml.client import Client

    try:
        Client().get_artifact_version("training_triplets")
    except KeyError:
        raise EmbedtuneError("no generated pairs yet: run `python run.py curate push` without --latest") from None


@click.group("curate")
def curate() -> None:
    """Review the generated pairs in Argilla, then train on the reviewed ones (`finetune --curated`)."""


@curate.command("push")
@config_option
@corpus_option
@no_cache_option
@click.option("--latest", is_flag=True, help="Push the latest generated pairs artifact; generate nothing.")
def push(config_path: str, corpus: str | None, no_cache: bool, latest: bool) -> None:
    """Generate the pairs (cached when unchanged) and push them to Argilla for review."""
    from embedtune.data.ingest import corpus_fingerprint

    config, options = support.prepare(config_path, corpus, needs_corpus=not latest)
    _require_argilla(config)
    parameters = {"config": config}
    if latest:
        _require_pairs()
        import pipelines

        pipeline = pipelines.push_latest
    else:
        pipeline = support.training_pipeline("generate")
        parameters["corpus_fingerprint"] = corpus_fingerprint(config.ingest)
    with support.options_file(options, no_cache) as options_path:
        run = pipeline.with_options(config_path=options_path)(**parameters)
    _summarise_push(run)


def _summarise_push(run) -> None:
    from zenml.client import Client

    if run is None:
        return
    outputs = Client().get_pipeline_run(run.id).steps["push_to_argilla"].outputs["argilla_push"]
    summary = (outputs[0] if isinstance(outputs, list) else outputs).load()
    if summary.get("status") != "pushed":
        click.echo(f"Nothing pushed: {summary.get('reason') or summary.get('status')}")
        return
    click.echo(
        f"Pushed {summary['records']} pairs to Argilla dataset '{summary['dataset']}' "
        f"({summary['created']} new, {summary['updated']} updated, {summary['records_per_second']} records/s)."
    )
    click.echo(
        f"Review them at {summary['api_url']}, follow with `python run.py curate status`, "
        "then train on the reviewed pairs: `python run.py finetune --curated`."
    )


@curate.command("status")
@config_option
def status(config_path: str) -> None:
    """Review progress per Argilla dataset: records completed / pending, responses submitted / discarded."""
    from embedtune.config import load_run_config
    from embedtune.curation import review as argilla_client

    config, _ = load_run_config(config_path)
    click.echo(argilla_client.status(config.curation))


COMMANDS = [curate]
