"""The command line of `run.py`: one module per command group, each owning its flags.

A command module maps flags onto the pipelines' `with_options(...)` and nothing else; helpers the
commands share are in `commands.support`, options declared once in `commands.options`.
"""

from __future__ import annotations

import sys

import click


@click.group()
@click.option("--verbose", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(context: click.Context, verbose: bool) -> None:
    """Fine-tune an embedding model on your own documents, and prove the gain."""
    context.obj = {"verbose": verbose}


def _add_commands() -> None:
    from commands import compare, curate, evaluate, publish, schedule, stack, training

    for module in (training, evaluate, compare, curate, stack, schedule, publish):
        for command in module.COMMANDS:
            cli.add_command(command)


_add_commands()


def main() -> None:
    """Run the CLI: a user error is one `error: ...` line and exit 2 (a traceback too with --verbose);
    SIGTERM / SIGINT one line and exit 143 / 130; a bug a traceback and exit 1 (`commands.errors`)."""
    from commands.errors import run_cli

    run_cli(cli, verbose="--verbose" in sys.argv)
