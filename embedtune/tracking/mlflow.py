"""Experiment tracking: the MLflow side of a run.

Everything here is a no-op when the active ZenML stack has no MLflow experiment tracker: the steps call
these functions unconditionally and the pipeline runs unchanged without one. With the tracker, ZenML opens
one MLflow run per pipeline run (in the experiment named by `tracking.experiment_name`); the training step
logs its parameters, the trainer's loss / learning rate / validation metrics at every logging step and
evaluation, and the tuned model (logged on the run, not registered); the evaluation step logs the
test metrics of base and tuned per Matryoshka dimension with the CI of the gain, on the held-out synthetic
queries (`test_...`) and on the gold queries when there is a gold set (`gold_...`).

The registry holds only promoted models: the `promote` step tags the MLflow run with its decision
(`embedtune.promoted`, `embedtune.decision`) and, when the model was promoted, registers the logged model
(`tracking.registered_model_name`, default the ZenML model's name) and points the alias named after the ZenML
stage (`staging` / `production`) at that version, so the alias follows the stage: MLflow moves an alias
off the version that held it, as ZenML moves the stage off the previous version.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import logger

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MLFLOW_FLAVOR = "mlflow"
TRACKER_NAME = "embedtune_mlflow"
STACK_NAME = "embedtune_mlflow"
MODEL_ARTIFACT_PATH = "tuned_model"


# -- which tracker, resolved when the pipeline is built ---------------------------------------------------


def stack_experiment_tracker() -> Any | None:
    """The active stack's MLflow experiment tracker component, or None (no tracker, or another flavor)."""
    try:
        from zenml.client import Client

        tracker = Client().active_stack.experiment_tracker
    except Exception as error:  # noqa: BLE001 - no usable stack: run without tracking, and say why
        logger.warning("no experiment tracking: the active ZenML stack could not be read (%s)", error)
        return None
    if tracker is None or tracker.flavor != MLFLOW_FLAVOR:
        return None
    return tracker


def tracked_step_options(experiment_name: str | None) -> dict[str, Any]:
    """`step.with_options(**...)` for steps that log to the experiment tracker: empty without one."""
    tracker = stack_experiment_tracker()
    if tracker is None:
        return {}
    options: dict[str, Any] = {"experiment_tracker": tracker.name}
    if experiment_name:
        options["settings"] = {"experiment_tracker": {"experiment_name": experiment_name}}
        ensure_local_experiment(tracker, experiment_name)
    return options


def local_artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite store, the folder beside the database where the experiment's artifacts should go
    (MLflow would otherwise write them to ./mlruns of whatever directory the step runs in)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri[len("sqlite:///"):])
    return str(database.parent / "artifacts")


def ensure_local_experiment(tracker: Any, experiment_name: str) -> None:
    """Create the experiment with its artifacts beside a local SQLite store, before ZenML creates it
    with MLflow's default (a relative ./mlruns). Servers choose their own artifact root: nothing to do."""
    tracking_uri = tracker.get_tracking_uri()
    location = local_artifact_location(tracking_uri)
    if location is None:
        return
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    if client.get_experiment_by_name(experiment_name) is None:
        Path(location).mkdir(parents=True, exist_ok=True)
        client.create_experiment(experiment_name, artifact_location=Path(location).resolve().as_uri())


# -- logging from inside a step --------------------------------------------------------------------------


def active_run() -> Any | None:
    """The MLflow run ZenML's tracker opened for this step, or None. mlflow is not imported here: when the
    step has the tracker, ZenML has imported it already."""
    mlflow = sys.modules.get("mlflow")
    return mlflow.active_run() if mlflow is not None else None


def metric_name(name: str) -> str:
    """MLflow metric/param names allow letters, digits, `_-./ ` and spaces only: ndcg@10 -> ndcg_at_10."""
    return re.sub(r"[^0-9A-Za-z_\-./ ]", "_", name.replace("@", "_at_"))


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def training_callbacks() -> list[Any]:
    """A transformers callback that sends the trainer's logs (loss, learning rate, epoch, validation NDCG@10
    ...) to the active MLflow run at their global step; no callback without an active run."""
    if active_run() is None:
        return []
    import mlflow
    from transformers import TrainerCallback

    class MLflowMetrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {
                metric_name(key): float(value)
                for key, value in (logs or {}).items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
            if numbers and state.is_world_process_zero:
                mlflow.log_metrics(numbers, step=int(state.global_step))

    return [MLflowMetrics()]


def log_params(params: Mapping[str, Any]) -> None:
    """Flattened parameters on the active run (values cut to MLflow's 6000 characters)."""
    if active_run() is None:
        return
    import mlflow

    mlflow.log_params({metric_name(key): str(value)[:6000] for key, value in flatten(params).items()})


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    if active_run() is None:
        return
    import mlflow

    numbers = {
        metric_name(key): float(value)
        for key, value in flatten(metrics).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    if numbers:
        mlflow.log_metrics(numbers, step=step)


def evaluation_metrics(report: Mapping[str, Any], prefix: str = "test") -> dict[str, float]:
    """`test_<model>_<metric>_dim<d>` for every model and dimension, and the gain with its 95% CI, on the
    held-out synthetic queries; the same as `gold_...` for the gold queries when the report has them, with
    `gold_queries` (their number) and `decided_on_gold` (1: promotion decided on them, 0: on synthetic)."""
    metrics: dict[str, float] = {}
    for name, by_dim in report.get("models", {}).items():
        for dim, values in by_dim.items():
            for metric, value in values.items():
                metrics[f"{prefix}_{name}_{metric}_dim{dim}"] = float(value)
    for name, by_dim in report.get("gains", {}).items():
        for dim, by_metric in by_dim.items():
            for metric, gain in by_metric.items():
                for part in ("gain", "ci_low", "ci_high"):
                    metrics[f"{prefix}_{name}_{metric}_{part}_dim{dim}"] = float(gain[part])
    if report.get("gold"):
        metrics.update(evaluation_metrics(report["gold"], prefix="gold"))
        metrics["gold_queries"] = float(report["gold"]["n_queries"])
    if "decided_on" in report:
        metrics["decided_on_gold"] = float(report["decided_on"] == "gold")
    return {metric_name(key): value for key, value in metrics.items()}


def registry_name(config: Any, zenml_model_name: str | None) -> str | None:
    """The MLflow registry name the tuned model gets when promoted (None: log it, never register it)."""
    if not config.register_model:
        return None
    return config.registered_model_name or zenml_model_name or "embedtune"


MODEL_URI_KEY = "mlflow_model_uri"
RUN_ID_KEY = "mlflow_run_id"
REGISTRY_NAME_KEY = "mlflow_registered_model_name"


def log_model(model: SentenceTransformer, registered_model_name: str | None) -> str | None:
    """Log the tuned model on the active run with MLflow's sentence_transformers flavor, unregistered, and
    note on the step's `tuned_model` artifact where it is (`mlflow_model_uri`, `mlflow_run_id`) and the
    registry name it gets if promoted (`registered_model_name`; None: never registered): `register_promoted`
    reads them. Returns the model URI, or None without an active run."""
    run = active_run()
    if run is None:
        return None
    import mlflow
    import sentence_transformers

    info = mlflow.sentence_transformers.log_model(
        model,
        name=MODEL_ARTIFACT_PATH,
        # explicit requirements: inferring them would re-import the model in a subprocess (slow)
        pip_requirements=[f"sentence-transformers=={sentence_transformers.__version__}"],
    )
    logger.info("logged the tuned model to MLflow run %s as %s", run.info.run_id, info.model_uri)
    _note_on_output({MODEL_URI_KEY: str(info.model_uri), RUN_ID_KEY: run.info.run_id,
                     REGISTRY_NAME_KEY: registered_model_name or ""})
    return str(info.model_uri)


def _note_on_output(metadata: Mapping[str, Any]) -> None:
    """Metadata on the running step's single output artifact; skipped outside a step."""
    try:
        from zenml import log_metadata

        log_metadata(metadata=dict(metadata), infer_artifact=True)
    except Exception as error:  # noqa: BLE001 - outside a step (scripts, tests): nothing to attach to
        logger.debug("MLflow model location not attached to an artifact: %s", error)


def _stack_tracking_uri() -> str | None:
    tracker = stack_experiment_tracker()
    if tracker is None:
        return None
    if hasattr(tracker, "configure_mlflow"):
        tracker.configure_mlflow()  # credentials of the tracker into MLflow's environment
    return str(tracker.get_tracking_uri())


def register_promoted(
    artifact_metadata: Mapping[str, Any], decision: Mapping[str, Any], zenml_version: str | None = None,
    tracking_uri: str | None = None,
) -> str | None:
    """After the promotion decision: tag the MLflow run that logged the model (`embedtune.promoted`,
    `embedtune.decision`) and, only when `decision["promoted"]`, register the model under the name noted at
    logging time and set the alias `decision["stage"]` on the new version (tagged with `zenml_version`).

    `artifact_metadata`: the `tuned_model` artifact's metadata (what `log_model` noted); without a logged
    model (no MLflow tracker when training) nothing happens. `tracking_uri`: default the active stack's
    MLflow tracker. Returns the registered version (a string), else None."""
    model_uri, run_id = artifact_metadata.get(MODEL_URI_KEY), artifact_metadata.get(RUN_ID_KEY)
    if not model_uri or not run_id:
        return None
    tracking_uri = tracking_uri or _stack_tracking_uri()
    if tracking_uri is None:
        logger.warning("the tuned model was logged to MLflow, but the stack has no MLflow tracker now: "
                       "not registered")
        return None
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    promoted = bool(decision.get("promoted"))
    client.set_tag(str(run_id), "embedtune.promoted", str(promoted).lower())
    client.set_tag(str(run_id), "embedtune.decision", str(decision.get("reason", ""))[:5000])
    name, stage = artifact_metadata.get(REGISTRY_NAME_KEY), decision.get("stage")
    if not promoted or not name or not stage:
        return None
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        version = mlflow.register_model(str(model_uri), str(name), tags={"zenml_model_version": zenml_version or ""})
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    client.set_registered_model_alias(str(name), str(stage), str(version.version))
    logger.info("registered the promoted model in MLflow as %s version %s (alias %s)", name, version.version, stage)
    return str(version.version)


def log_model_metadata(metadata: Mapping[str, Any]) -> bool:
    """Metadata on this run's ZenML model version, when the pipeline carries a `Model` (else skipped)."""
    from zenml import get_step_context, log_metadata

    try:
        if get_step_context().model_version is None:
            return False
    except Exception:  # noqa: BLE001 - outside a step or no Model configured: nothing to attach to
        return False
    log_metadata(metadata=dict(metadata), infer_model=True)
    return True
