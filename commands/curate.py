"""`curate`: human review of the generated pairs in Argilla.

python run.py curate push            # generate_data (cached steps reused) -> push_to_argilla
python run.py curate push --latest   # push the latest `training_triplets` artifact, generate nothing
python run.py curate status          # submitted / pending / discarded per dataset
python run.py finetune --curated     # pull the reviews back and train on them
python run.py curate gold push --queries logs.txt   # real queries -> Argilla, with pooled candidate passages
python run.py curate gold pull --output data/gold/mine.yaml   # the judged set -> `gold_queries` + a gold file
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
    if latest and corpus:
        raise click.BadOptionUsage("corpus", "--corpus has no effect with --latest, which pushes the pairs already "
                                   "generated (drop --latest to generate them from this corpus)")
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


@curate.group("gold")
def gold() -> None:
    """Build a gold set (real queries, judged passages) in Argilla; set evaluation.gold to the pulled file."""


@gold.command("push")
@config_option
@corpus_option
@click.option("--queries", "queries_path", required=True, type=click.Path(dir_okay=False),
              help="Real queries: one per line, or JSONL with 'query' (and 'id').")
def gold_push(config_path: str, corpus: str | None, queries_path: str) -> None:
    """Retrieve candidates for each query with the base and the latest tuned model, pool them in a model-blind
    order and push one record per query to Argilla for annotators to mark the relevant passages."""
    from embedtune.curation import gold as gold_collection
    from embedtune.data.chunking import chunk_documents
    from embedtune.data.ingest import load_documents
    from embedtune.models.loading import load_base_model, load_tokenizer

    config, _ = support.prepare(config_path, corpus, needs_corpus=True)
    _require_argilla(config)
    queries = gold_collection.read_queries(queries_path)
    support.ensure_zenml_store()
    documents = load_documents(config.ingest).documents
    chunks = chunk_documents(documents, load_tokenizer(config.model.base_model), config.chunking)
    models = {"base": load_base_model(config.model)}
    tuned = _latest_tuned_model()
    if tuned is not None:
        models["tuned"] = tuned
    else:
        click.echo("No tuned model in the ZenML store yet: candidates come from the base model only.")
    rankings = gold_collection.rank_chunks(models, [q for _, q in queries], chunks, config.curation.gold_candidates)
    summary = gold_collection.push_gold(queries, chunks, rankings, config.curation)
    click.echo(
        f"Pushed {summary['records']} queries to Argilla dataset '{summary['dataset']}' ({summary['created']} new, "
        f"{summary['updated']} updated), {summary['passages_per_query']} passages each from {', '.join(models)}."
    )
    click.echo(f"Mark the relevant passages at {summary['api_url']}, then `python run.py curate gold pull --output FILE`.")


def _latest_tuned_model():
    from zenml.client import Client

    try:
        return Client().get_artifact_version("tuned_model").load()
    except KeyError:
        return None


@gold.command("pull")
@config_option
@click.option("--output", default="data/gold/argilla.yaml", show_default=True, type=click.Path(dir_okay=False),
              help="Gold file to write (the format evaluation.gold reads).")
def gold_pull(config_path: str, output: str) -> None:
    """The judged queries as the versioned `gold_queries` artifact and a gold file; point evaluation.gold at it."""
    from embedtune.evaluation.gold import write_gold
    from embedtune.util.frames import to_records

    support.ensure_zenml_store()
    config, _ = support.prepare(config_path, None, needs_corpus=False)
    _require_argilla(config)
    from zenml.client import Client

    import pipelines

    run = pipelines.gold_from_argilla(config=config)  # no ZenML Model: a gold set is not a model version

    outputs = Client().get_pipeline_run(run.id).steps["pull_gold_from_argilla"].outputs["gold_queries"]
    artifact = outputs[0] if isinstance(outputs, list) else outputs
    rows = to_records(artifact.load())
    path = write_gold(rows, output)
    counts = artifact.run_metadata.get("records", {})
    click.echo(
        f"Gold set: {len({row['query_id'] for row in rows})} queries, {len(rows)} relevant passages "
        f"(records: {counts}); artifact 'gold_queries' version {artifact.version}; file {path}."
    )
    click.echo(f"Use it: set `evaluation.gold: {path}` in your run config.")


COMMANDS = [curate]
