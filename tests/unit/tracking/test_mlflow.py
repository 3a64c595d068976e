"""MLflow side of a run: names MLflow accepts, no-ops without a tracker, the per-step training callback."""

import sys

from embedtune.config import TrackingConfig
from embedtune.tracking import mlflow as tracking


def test_metric_names_are_ones_mlflow_accepts():
    assert tracking.metric_name("eval_validation_cosine_ndcg@10") == "eval_validation_cosine_ndcg_at_10"
    assert tracking.metric_name("recall@1 (test)") == "recall_at_1 _test_"


def test_evaluation_metrics_cover_every_model_dimension_and_the_gain_ci():
    report = {
        "models": {"base": {"64": {"ndcg@10": 0.4}}, "tuned": {"64": {"ndcg@10": 0.5}, "32": {"ndcg@10": 0.45}}},
        "gains": {"tuned": {"64": {"ndcg@10": {"gain": 0.1, "ci_low": 0.02, "ci_high": 0.18}}}},
    }
    metrics = tracking.evaluation_metrics(report)
    assert metrics == {
        "test_base_ndcg_at_10_dim64": 0.4,
        "test_tuned_ndcg_at_10_dim64": 0.5,
        "test_tuned_ndcg_at_10_dim32": 0.45,
        "test_tuned_ndcg_at_10_gain_dim64": 0.1,
        "test_tuned_ndcg_at_10_ci_low_dim64": 0.02,
        "test_tuned_ndcg_at_10_ci_high_dim64": 0.18,
    }


def test_evaluation_metrics_log_the_gold_queries_beside_the_synthetic_ones():
    part = {
        "n_queries": 42,
        "models": {"base": {"64": {"ndcg@10": 0.6}}, "tuned": {"64": {"ndcg@10": 0.55}}},
        "gains": {"tuned": {"64": {"ndcg@10": {"gain": -0.05, "ci_low": -0.1, "ci_high": 0.0}}}},
    }
    report = {**part, "n_queries": 100, "gold": part, "decided_on": "gold"}
    metrics = tracking.evaluation_metrics(report)
    assert metrics["test_base_ndcg_at_10_dim64"] == 0.6 and metrics["gold_base_ndcg_at_10_dim64"] == 0.6
    assert metrics["gold_tuned_ndcg_at_10_gain_dim64"] == -0.05 and metrics["gold_tuned_ndcg_at_10_ci_low_dim64"] == -0.1
    assert metrics["gold_queries"] == 42 and metrics["decided_on_gold"] == 1.0
    assert tracking.evaluation_metrics({**report, "decided_on": "synthetic"})["decided_on_gold"] == 0.0


def test_flatten_nests_with_dots():
    assert tracking.flatten({"training": {"epochs": 1, "lr": {"x": 2}}, "a": "b"}) == {
        "training.epochs": 1, "training.lr.x": 2, "a": "b"
    }


def test_sqlite_store_keeps_artifacts_beside_the_database_and_servers_choose_their_own():
    assert tracking.local_artifact_location("sqlite:////srv/x/mlflow.db") == "/srv/x/artifacts"
    assert tracking.local_artifact_location("http://127.0.0.1:5000") is None


def test_nothing_is_registered_without_a_model_logged_to_mlflow(monkeypatch):
    monkeypatch.delitem(sys.modules, "mlflow", raising=False)
    decision = {"promoted": True, "stage": "staging", "reason": "promoted"}
    assert tracking.register_promoted({}, decision) is None  # no tracker when training: no URI was noted
    assert tracking.register_promoted({tracking.MODEL_URI_KEY: "models:/m-1"}, decision) is None  # nor a run
    assert "mlflow" not in sys.modules


def test_registry_name_defaults_to_the_zenml_model_and_can_be_turned_off():
    assert tracking.registry_name(TrackingConfig(), "embedtune-docs") == "embedtune-docs"
    assert tracking.registry_name(TrackingConfig(registered_model_name="mine"), "embedtune-docs") == "mine"
    assert tracking.registry_name(TrackingConfig(), None) == "embedtune"
    assert tracking.registry_name(TrackingConfig(register_model=False), "embedtune-docs") is None


def test_without_an_active_mlflow_run_logging_is_a_no_op(monkeypatch):
    monkeypatch.delitem(sys.modules, "mlflow", raising=False)  # no tracker in the stack: mlflow never imported
    assert tracking.active_run() is None
    assert tracking.training_callbacks() == []
    tracking.log_params({"a": 1})
    tracking.log_metrics({"b": 2.0})
    assert tracking.log_model(object(), "x") is None
    assert "mlflow" not in sys.modules


def test_the_training_callback_logs_every_trainer_log_at_its_global_step(tmp_path, monkeypatch):
    import mlflow  # the `mlflow` extra, installed by `make install`
    from transformers import TrainerControl, TrainerState, TrainingArguments

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("unit", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        (callback,) = tracking.training_callbacks()
        state = TrainerState()
        args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none")
        for step, loss in ((1, 2.5), (2, 1.5)):
            state.global_step = step
            callback.on_log(args, state, TrainerControl(), logs={"loss": loss, "eval_x_ndcg@10": 0.1 * step,
                                                                  "note": "text is skipped"})
    client = mlflow.MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(1, 2.5), (2, 1.5)]
    assert len(client.get_metric_history(run.info.run_id, "eval_x_ndcg_at_10")) == 2
    assert "note" not in client.get_run(run.info.run_id).data.metrics


def test_without_a_tracker_in_the_stack_steps_get_no_tracker_options(zenml_repository):
    from zenml.client import Client

    assert Client().active_stack.experiment_tracker is None  # the session's default stack
    assert tracking.tracked_step_options("embedtune") == {}
