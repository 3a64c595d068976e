"""The command line of `run.py` and of the `embedtune` console script: one module per command group, each
owning its flags.

A command module maps flags onto the pipelines' `with_options(...)` and nothing else; helpers the
commands share are in `commands.support`, options declared once in `commands.options`.

Importing this package sets the offline defaults below (before torch, transformers or ZenML are imported),
so `python run.py ...` and `embedtune ...` behave the same.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

ENVIRONMENT_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",  # offline by default: a hub lookup without network wastes minutes in retries
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",  # llama.cpp on few cores stalls without it
}
for _key, _value in ENVIRONMENT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)

import click  # after the environment defaults

VERBOSE_HELP = "Show full tracebacks on errors (accepted before or after the command)."


def package_version() -> str:
    """embedtune's version from the installed package's metadata (pyproject.toml's `version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("embedtune")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _print_version(context: click.Context, _parameter: click.Parameter, value: bool) -> None:
    if value and not context.resilient_parsing:
        click.echo(f"embedtune {package_version()}")
        context.exit()


@click.group()
@click.option("--verbose", is_flag=True, help=VERBOSE_HELP)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print embedtune's version and exit.")
@click.pass_context
def cli(context: click.Context, verbose: bool) -> None:
    """Fine-tune an embedding model on your own documents, and prove the gain."""
    context.obj = {"verbose": verbose}


def accept_verbose_everywhere(command: click.Command) -> None:
    """Give `command` and every sub-command a `--verbose` flag of its own, so `run.py run --verbose` works as
    `run.py --verbose run` does (`main` reads it from the command line, wherever it stands)."""
    if not any(isinstance(parameter, click.Option) and "--verbose" in parameter.opts for parameter in command.params):
        command.params.append(click.Option(["--verbose"], is_flag=True, expose_value=False, help=VERBOSE_HELP))
    for subcommand in getattr(command, "commands", {}).values():
        accept_verbose_everywhere(subcommand)


def _add_commands() -> None:
    from commands import compare, curate, evaluate, publish, schedule, stack, training

    for module in (training, evaluate, compare, curate, stack, schedule, publish):
        for command in module.COMMANDS:
            cli.add_command(command)
    accept_verbose_everywhere(cli)


_add_commands()


class _DropMessages(logging.Filter):
    """Drops the records of one logger whose message starts with one of `prefixes`."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


# Messages every run printed that say nothing a user can act on, by the logger that logs them.
# - sentence-transformers logs "No device provided, using cpu" each time a model is loaded without a device:
#   ZenML's materializer loading the `tuned_model` artifact, and the trainer reloading its best checkpoint.
#   embedtune's own "loaded embedder ... on cpu" line already names the device.
KNOWN_NOISE = {"sentence_transformers.base.model": ("No device provided",)}


def silence_known_noise() -> None:
    """Silence the known-harmless messages of a run, each by its exact text at the logger or warning that emits
    it (nothing else from those libraries is hidden): `KNOWN_NOISE`, and pydantic's
    UnsupportedFieldAttributeWarning about `Field(default=None)` that importing distilabel 1.5.3's LLM classes
    raises under pydantic 2.12 (a schema detail of distilabel's models, no effect on embedtune)."""
    for name, prefixes in KNOWN_NOISE.items():
        target = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in target.filters):
            target.addFilter(_DropMessages(*prefixes))
    warnings.filterwarnings(
        "ignore", message=r"The 'default' attribute with value None was provided to the `Field\(\)` function",
        category=UserWarning,
    )


def main() -> None:
    """Run the CLI (`run.py` and the `embedtune` console script): a user error is one `error: ...` line and
    exit 2 (a traceback too with --verbose, before or after the command); SIGTERM / SIGINT one line and exit
    143 / 130; a bug a traceback and exit 1 (`commands.errors`). Known-harmless messages are silenced
    (`silence_known_noise`)."""
    from commands.errors import run_cli

    silence_known_noise()
    run_cli(cli, verbose="--verbose" in sys.argv[1:])
