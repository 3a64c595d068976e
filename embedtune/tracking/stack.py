"""The local stack with the MLflow experiment tracker (`python run.py stack setup / show`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedtune import EmbedtuneError
from embedtune.tracking.mlflow import MLFLOW_FLAVOR, STACK_NAME, TRACKER_NAME, local_artifact_location
from embedtune.util.redact import redact_url

DEFAULT_STORE_DIR = Path("outputs") / "mlflow"


def default_tracking_uri(root: str | Path = ".") -> str:
    """A SQLite MLflow store under the repository: outputs/mlflow/mlflow.db (artifacts beside it)."""
    database = (Path(root) / DEFAULT_STORE_DIR / "mlflow.db").resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{database}"


def server_credentials(tracking_uri: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """ZenML insists on exactly one authentication method for an http(s) tracking server. Taken from MLflow's
    own variables (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD); a server on
    loopback without them is taken to have no authentication (a placeholder token it ignores)."""
    from urllib.parse import urlparse

    environ = os.environ if environ is None else environ
    if not tracking_uri.startswith(("http://", "https://")):
        return {}
    if environ.get("MLFLOW_TRACKING_TOKEN"):
        return {"tracking_token": environ["MLFLOW_TRACKING_TOKEN"]}
    if environ.get("MLFLOW_TRACKING_USERNAME") and environ.get("MLFLOW_TRACKING_PASSWORD"):
        return {"tracking_username": environ["MLFLOW_TRACKING_USERNAME"],
                "tracking_password": environ["MLFLOW_TRACKING_PASSWORD"]}
    if urlparse(tracking_uri).hostname in ("127.0.0.1", "localhost", "::1"):
        return {"tracking_token": "no-auth-local-server"}
    raise EmbedtuneError(
        f"the MLflow server {redact_url(tracking_uri)} needs credentials: set MLFLOW_TRACKING_TOKEN, or "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, before `run.py stack setup`"
    )


def setup_stack(
    tracking_uri: str, stack_name: str = STACK_NAME, tracker_name: str = TRACKER_NAME, activate: bool = True,
    experiment_name: str | None = "embedtune",
) -> dict[str, Any]:
    """Register (or update) an MLflow experiment tracker and a stack made of the active stack's orchestrator
    and artifact store plus that tracker; activate it. Idempotent."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    configuration = {"tracking_uri": tracking_uri, **server_credentials(tracking_uri)}
    try:
        tracker = client.get_stack_component(StackComponentType.EXPERIMENT_TRACKER, tracker_name)
        if tracker.flavor_name != MLFLOW_FLAVOR:
            raise EmbedtuneError(f"experiment tracker '{tracker_name}' exists with flavor {tracker.flavor_name}")
        tracker = client.update_stack_component(
            tracker_name, StackComponentType.EXPERIMENT_TRACKER, configuration=configuration
        )
    except KeyError:
        tracker = client.create_stack_component(
            tracker_name, MLFLOW_FLAVOR, StackComponentType.EXPERIMENT_TRACKER, configuration
        )
    try:
        stack = client.get_stack(stack_name, allow_name_prefix_match=False)
        if StackComponentType.EXPERIMENT_TRACKER not in stack.components:
            stack = client.update_stack(stack_name, component_updates={
                StackComponentType.EXPERIMENT_TRACKER: [str(tracker.id)],
            })
    except KeyError:
        base = client.active_stack_model
        if StackComponentType.EXPERIMENT_TRACKER in base.components:  # re-running setup on our own stack
            base = client.get_stack("default")
        components = {
            kind: str(base.components[kind][0].id)
            for kind in (StackComponentType.ORCHESTRATOR, StackComponentType.ARTIFACT_STORE)
        }
        components[StackComponentType.EXPERIMENT_TRACKER] = str(tracker.id)
        stack = client.create_stack(stack_name, components=components)
    if activate:
        client.activate_stack(stack.id)
    location = local_artifact_location(tracking_uri)
    if experiment_name and location:
        import mlflow

        mlflow_client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if mlflow_client.get_experiment_by_name(experiment_name) is None:
            Path(location).mkdir(parents=True, exist_ok=True)
            mlflow_client.create_experiment(experiment_name, artifact_location=Path(location).resolve().as_uri())
    return describe_stack(stack.id)


def describe_stack(stack_id: Any = None) -> dict[str, Any]:
    """Name, id and components of a stack (the active one by default), with the tracking URI if MLflow."""
    from zenml.client import Client

    client = Client()
    model = client.get_stack(stack_id) if stack_id else client.active_stack_model
    components = {
        str(kind.value): {"name": items[0].name, "flavor": items[0].flavor_name}
        for kind, items in model.components.items() if items
    }
    info: dict[str, Any] = {"name": model.name, "id": str(model.id), "components": components}
    for items in model.components.values():
        if items and items[0].flavor_name == MLFLOW_FLAVOR:
            uri = client.get_stack_component(items[0].type, items[0].id).configuration.get("tracking_uri")
            info["tracking_uri"] = uri or "(inside the artifact store)"
    return info
