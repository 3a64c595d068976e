"""Sub-command groups of run.py, one module per concern, each owning its own flags.

run.py adds every command listed in COMMANDS; a module maps flags to pipelines and nothing else.
"""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "commands.curate": "curate",  # Argilla review round trip (push / status)
    "commands.stack": "stack",  # local stack with the MLflow experiment tracker; dashboard
    "commands.compare": "compare",  # base-model leaderboard
    "commands.schedule": "schedule",  # scheduled retraining
}


def register(group: click.Group) -> None:
    for module_name, attribute in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue  # not written yet
            raise
        for command in getattr(module, "COMMANDS", [getattr(module, attribute, None)]):
            if command is not None:
                group.add_command(command)
