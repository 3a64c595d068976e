"""`python run.py schedule --cron "0 3 * * 1"`: retrain on a schedule, on orchestrators that can."""

from __future__ import annotations

import click

from commands import support
from commands.options import config_option, corpus_option
from embedtune.scheduling import build_schedule, check_schedulable


@click.command("schedule")
@click.option("--cron", required=True, help="Five-field cron expression, e.g. '0 3 * * 1' (Mondays 03:00).")
@click.option(
    "--pipeline", "pipeline_name", type=click.Choice(["end_to_end", "generate", "finetune"]),
    default="end_to_end", show_default=True, help="Which pipeline the schedule runs.",
)
@click.option("--name", help="Schedule name (default: derived by ZenML).")
@config_option
@corpus_option
def schedule(cron: str, pipeline_name: str, name: str | None, config_path: str, corpus: str | None) -> None:
    """Create a ZenML Schedule on the active stack (refused on orchestrators that cannot schedule)."""
    if corpus and pipeline_name == "finetune":
        raise click.BadOptionUsage("corpus", "--corpus has no effect with --pipeline finetune, which trains on the "
                                   "latest generated pairs (schedule `generate` with the corpus instead)")
    the_schedule = build_schedule(cron, name)  # a bad cron fails before anything else
    support.ensure_zenml_store()  # before `import pipelines`, which already talks to the store
    from zenml.client import Client

    check_schedulable(Client().active_stack.orchestrator)
    config, options = support.prepare(config_path, corpus, needs_corpus=pipeline_name != "finetune")
    parameters = {"config": config}
    if pipeline_name != "finetune":
        # A fingerprint taken now would be frozen into every scheduled run: re-read the documents each time.
        options.setdefault("steps", {}).setdefault("load_documents", {})["enable_cache"] = False
    with support.options_file(options) as options_path:
        support.training_pipeline(pipeline_name).with_options(config_path=options_path, schedule=the_schedule)(**parameters)
    click.echo(f"scheduled {pipeline_name} with cron '{the_schedule.cron_expression}' on the active stack")


COMMANDS = [schedule]
