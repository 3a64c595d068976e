"""A real MLflow tracking server on loopback: `run.py stack setup` points a ZenML stack at it, the pipeline
runs on that stack, and MLflow's own client reads back the metrics, params, the promotion decision and the
registry, which holds the model only if it was promoted, with the stage as its alias."""

from __future__ import annotations

import re
import sys
import time

import pytest

from tests.conftest import PROJECT_ROOT
from tests.services.zenml_env import VENV_BIN, free_port, run, run_tiny_pipeline, serving, zenml_env

pytestmark = [pytest.mark.services, pytest.mark.slow]

MODEL_NAME = "embedtune-services-mlflow"
PLANTED = "sk-planted-Secret-9f3b2c"  # in every key variable a user could set; must be stored nowhere
PLANTED_ENV = {name: PLANTED for name in ("OPENAI_API_KEY", "ARGILLA_API_KEY", "MLFLOW_TRACKING_PASSWORD",
                                          "HF_TOKEN", "VOYAGE_API_KEY", "COHERE_API_KEY")}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--default-artifact-root", str(folder / "artifacts")]
    with serving(command, folder, "/health", timeout=180, port=port) as url:
        yield url


@pytest.fixture(scope="module")
def tracked_run(mlflow_server, tmp_path_factory):
    """`run.py stack setup --tracking-uri <server>` in a fresh ZenML config, then the tiny pipeline on it."""
    home = tmp_path_factory.mktemp("mlflow-zenml")
    env = zenml_env(home / "zenml")
    started = time.monotonic()
    out = run([sys.executable, str(PROJECT_ROOT / "run.py"), "stack", "setup", "--tracking-uri", mlflow_server],
              env, home, timeout=300)
    stack_id = re.search(r"Active stack: embedtune_mlflow \(([0-9a-f-]{36})\)", out).group(1)
    shown = run([sys.executable, str(PROJECT_ROOT / "run.py"), "stack", "show"], env, home, timeout=300)
    # the pipeline runs from the repository root, whose .zen/ names another active stack: pin ours by id
    result = run_tiny_pipeline(zenml_env(home / "zenml", ZENML_ACTIVE_STACK_ID=stack_id, **PLANTED_ENV),
                               home / "work", MODEL_NAME)
    return {"setup": out, "show": shown, "result": result, "seconds": time.monotonic() - started, "home": home}


def test_no_planted_key_reaches_mlflow_the_zenml_store_or_the_output(tracked_run, mlflow_server, tmp_path_factory):
    server_folder = next(tmp_path_factory.getbasetemp().glob("mlflow-server*"))
    scanned = 0
    for folder in (server_folder, tracked_run["home"]):
        for path in folder.rglob("*"):
            if path.is_file():
                scanned += 1
                assert PLANTED.encode() not in path.read_bytes(), path
    assert scanned > 10 and PLANTED not in str(tracked_run["result"])


def test_stack_setup_registers_and_activates_the_mlflow_tracker(tracked_run, mlflow_server):
    for output in (tracked_run["setup"], tracked_run["show"]):
        assert "experiment_tracker: embedtune_mlflow (flavor mlflow)" in output
        assert f"MLflow tracking URI: {mlflow_server}" in output
    assert tracked_run["result"]["status"] == "completed"


def test_training_metrics_params_and_test_metrics_reach_the_mlflow_server(tracked_run, mlflow_server):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("embedtune")
    (mlflow_run,) = client.search_runs([experiment.experiment_id],
                                       filter_string=f"attributes.run_name = '{tracked_run['result']['run_name']}'")
    losses = client.get_metric_history(mlflow_run.info.run_id, "loss")
    assert len(losses) >= 2 and sorted(m.step for m in losses) == [m.step for m in losses]  # one per logging step
    metrics = mlflow_run.data.metrics
    assert "eval_validation_cosine_ndcg_at_10" in metrics and "learning_rate" in metrics
    assert {"test_base_ndcg_at_10_dim64", "test_tuned_ndcg_at_10_dim64", "test_tuned_ndcg_at_10_ci_low_dim64",
            "test_tuned_ndcg_at_10_dim32"} <= set(metrics)
    params = mlflow_run.data.params
    assert params["training.epochs"] == "1.0" and params["training.batch_size"] == "8"
    assert params["model.matryoshka_dims"] == "[64, 32]" and int(params["hardware.cpu_count"]) >= 1


def _tracked_mlflow_run(client, tracked_run):
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("embedtune").experiment_id],
                                       filter_string=f"attributes.run_name = '{tracked_run['result']['run_name']}'")
    return mlflow_run


def test_the_registry_holds_the_model_only_if_promoted_with_the_stage_as_its_alias(tracked_run, mlflow_server):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    mlflow_run = _tracked_mlflow_run(client, tracked_run)
    promoted = mlflow_run.data.tags["embedtune.promoted"]
    assert promoted in ("true", "false") and mlflow_run.data.tags["embedtune.decision"]
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    if promoted == "true":
        (version,) = versions
        assert version.run_id == mlflow_run.info.run_id and version.status == "READY"
        assert client.get_model_version_by_alias(MODEL_NAME, "staging").version == version.version
    else:
        assert versions == []  # logged on the run, never registered


def test_promotions_register_versions_and_the_alias_follows_the_stage(tracked_run, mlflow_server):
    """register_promoted on the model the pipeline logged: staging, then production for a second version
    (the staging alias stays), then staging again moves that alias to the newest version."""
    import mlflow

    from embedtune.tracking import mlflow as tracking

    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    mlflow_run = _tracked_mlflow_run(client, tracked_run)
    (logged,) = client.search_logged_models(experiment_ids=[mlflow_run.info.experiment_id],
                                            filter_string=f"source_run_id = '{mlflow_run.info.run_id}'")
    name = f"{MODEL_NAME}-aliases"
    noted = {tracking.MODEL_URI_KEY: logged.model_uri, tracking.RUN_ID_KEY: mlflow_run.info.run_id,
             tracking.REGISTRY_NAME_KEY: name}
    assert tracking.register_promoted(noted, {"promoted": False, "reason": "no"}, "m:1", mlflow_server) is None
    assert client.search_model_versions(f"name='{name}'") == []
    staged = tracking.register_promoted(noted, {"promoted": True, "stage": "staging", "reason": "ok"}, "m:1",
                                        mlflow_server)
    produced = tracking.register_promoted(noted, {"promoted": True, "stage": "production", "reason": "ok"}, "m:2",
                                          mlflow_server)
    assert client.get_model_version_by_alias(name, "staging").version == staged
    assert client.get_model_version_by_alias(name, "production").version == produced != staged
    assert client.get_model_version(name, produced).tags["zenml_model_version"] == "m:2"
    again = tracking.register_promoted(noted, {"promoted": True, "stage": "staging", "reason": "ok"}, "m:3",
                                       mlflow_server)
    assert client.get_model_version_by_alias(name, "staging").version == again
    mlflow.set_registry_uri(mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        model = mlflow.sentence_transformers.load_model(f"models:/{name}@production")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert model.encode(["a query about pods"]).shape == (1, 64)
