"""Options shared by several commands, declared once: `--config`, `--corpus`, `--no-cache`, `--export-dir`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = str(REPO_ROOT / "configs" / "default.yaml")

config_option = click.option(
    "--config", "config_path", default=DEFAULT_CONFIG, show_default=True, help="Run-config YAML."
)
corpus_option = click.option("--corpus", help="Folder or file of documents (overrides ingest.corpus).")
no_cache_option = click.option("--no-cache", is_flag=True, help="Re-run every step instead of reusing results.")
export_dir_option = click.option("--export-dir", type=click.Path(file_okay=False), help="Write the tuned model here.")


def training_options(function: Callable) -> Callable:
    """The options of the training commands (run / generate / finetune), in help order."""
    for option in (export_dir_option, no_cache_option, corpus_option, config_option):
        function = option(function)
    return function
