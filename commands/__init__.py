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
    from commands import compare, curate, evaluate, schedule, stack, training

    for module in (training, evaluate, compare, curate, stack, schedule):
        for command in module.COMMANDS:
            cli.add_command(command)


_add_commands()


def main() -> None:
    """Run the CLI: a user error is one `error: ...` line and exit 2 (a traceback with --verbose)."""
    from commands.support import user_facing_message

    verbose = "--verbose" in sys.argv
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except Exception as error:
        message = user_facing_message(error)
        if message is None or verbose:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
