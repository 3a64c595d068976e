"""Options shared by several commands, declared once: `--config`, `--corpus`, `--no-cache`, `--export-dir`, `--output`."""

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


def options(*declared: Callable) -> Callable[[Callable], Callable]:
    """Apply `declared` options to a command in help order (click applies decorators bottom-up)."""

    def apply(function: Callable) -> Callable:
        for option in reversed(declared):
            function = option(function)
        return function

    return apply


# Each training command takes only the options it uses: `generate` makes no model (no --export-dir), and
# `finetune` reads the latest generated pairs, not documents (no --corpus).
run_options = options(config_option, corpus_option, no_cache_option, export_dir_option)
generate_options = options(config_option, corpus_option, no_cache_option)
finetune_options = options(config_option, no_cache_option, export_dir_option)
