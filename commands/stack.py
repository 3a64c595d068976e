"""`python run.py stack setup|show` (a local stack with the MLflow experiment tracker) and
`python run.py dashboard` (the local ZenML server and dashboard)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

from commands.options import REPO_ROOT, config_option, corpus_option


def _print_stack(info: dict) -> None:
    click.echo(f"Active stack: {info['name']} ({info['id']})")
    for kind, component in sorted(info["components"].items()):
        click.echo(f"  {kind}: {component['name']} (flavor {component['flavor']})")
    if "tracking_uri" in info:
        uri = info["tracking_uri"]
        click.echo(f"MLflow tracking URI: {uri}")
        if uri.startswith("sqlite:///"):
            click.echo(f"MLflow UI: .venv/bin/mlflow ui --backend-store-uri {uri} --port 5000")
    else:
        click.echo("No MLflow experiment tracker: runs are tracked in ZenML only (python run.py stack setup adds one).")


@click.group("stack")
def stack() -> None:
    """The ZenML stack embedtune runs on: local orchestrator and artifact store, with MLflow tracking."""


@stack.command("setup")
@click.option("--tracking-uri", help="MLflow tracking URI (http://host:port of a server, or sqlite:///ABS/PATH.db). "
              "Default: sqlite:///<repo>/outputs/mlflow/mlflow.db.")
@click.option("--name", "stack_name", default="embedtune_mlflow", show_default=True, help="Stack name.")
@click.option("--tracker-name", default="embedtune_mlflow", show_default=True, help="Experiment tracker name.")
@click.option("--experiment", default="embedtune", show_default=True, help="MLflow experiment (tracking.experiment_name).")
@click.option("--no-activate", is_flag=True, help="Register only; keep the current active stack.")
def setup_command(tracking_uri: str | None, stack_name: str, tracker_name: str, experiment: str, no_activate: bool) -> None:
    """Register a local stack with the MLflow experiment tracker and activate it (idempotent)."""
    from embedtune.tracking import stack as tracking

    uri = tracking_uri or tracking.default_tracking_uri(REPO_ROOT)
    info = tracking.setup_stack(uri, stack_name, tracker_name, activate=not no_activate, experiment_name=experiment)
    _print_stack(info)
    if no_activate:
        click.echo(f"Registered, not activated: zenml stack set {stack_name}")


@stack.command("show")
def show_command() -> None:
    """The active stack, its components and the MLflow tracking URI."""
    from embedtune.tracking import stack as tracking

    _print_stack(tracking.describe_stack())


@stack.command("image")
@config_option
@corpus_option
def image_command(config_path: str, corpus: str | None) -> None:
    """What the config's container image installs on the active stack: the pyproject extras derived from the
    config and the stack, HF_HUB_OFFLINE, and every requirement ZenML's image builder would install (no Docker)."""
    from commands import support
    from embedtune.tracking import images

    support.ensure_zenml_store()
    config, options = support.prepare(config_path, corpus, needs_corpus=False)
    docker = (options.get("settings") or {}).get("docker")
    if not docker:
        click.echo(f"{config_path} has no settings.docker: it runs without an image (a local orchestrator).")
        return
    click.echo(f"Extras: {', '.join(images.required_extras(config, images.active_stack_flavors())) or '(none)'}")
    for key, value in sorted(docker.get("environment", {}).items()):
        click.echo(f"ENV {key}={value}")
    if docker.get("apt_packages"):
        click.echo(f"apt: {' '.join(docker['apt_packages'])}")
    for name, content in images.image_requirements(docker):
        click.echo(f"--- {name}\n{content.strip()}")


@click.command("dashboard")
@click.option("--port", type=int, help="Port of the local server (default: ZenML's, 8237).")
@click.option("--stop", is_flag=True, help="Stop the local server (zenml logout --local).")
def dashboard(port: int | None, stop: bool) -> None:
    """Start the local ZenML server and open its dashboard (zenml login --local)."""
    zenml = shutil.which("zenml", path=str(Path(sys.executable).parent)) or "zenml"
    command = [zenml, "logout", "--local"] if stop else [zenml, "login", "--local", *(["--port", str(port)] if port else [])]
    raise SystemExit(subprocess.call(command))


COMMANDS = [stack, dashboard]
