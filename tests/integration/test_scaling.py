"""Scaling out without a cloud: every stack recipe compiles against a stack of its flavors, multi-GPU
wiring, the accelerate launcher for real (one CPU process), and schedules."""

from __future__ import annotations

import subprocess
import sys

import pytest
from zenml.client import Client
from zenml.config import DockerSettings
from zenml.enums import StackComponentType

from commands import support as cli_support
from embedtune import EmbedtuneError
from embedtune.scheduling import build_schedule, check_schedulable
from tests.conftest import PROJECT_ROOT, write_corpus
from tests.integration.test_pipelines import tiny_config

pytestmark = pytest.mark.integration

# The Kubernetes recipe compiles against a registered Kubernetes stack (its client library is small and in
# the dev extra). Vertex and SageMaker need their cloud SDKs just to instantiate the stack, so those recipes
# compile on the local stack without the step operator, and their flavor-specific blocks are validated by
# the flavors' own settings classes.
K8S_CONFIG = {"kubernetes_context": "ci", "kubernetes_namespace": "ml"}
CLOUD_SETTINGS = {
    "vertex": ("step_operator.vertex", "zenml.integrations.gcp.flavors.vertex_step_operator_flavor",
               "VertexStepOperatorSettings", "vertex_gpu"),
    "sagemaker": ("step_operator.sagemaker", "zenml.integrations.aws.flavors.sagemaker_step_operator_flavor",
                  "SagemakerStepOperatorSettings", "sagemaker_gpu"),
}


@pytest.fixture
def kubernetes_stack(zenml_repository):
    """A Kubernetes orchestrator + step operator stack, registered only (no cluster is contacted)."""
    client = Client()
    previous = client.active_stack_model.name
    client.create_stack_component("ci_k8s", "kubernetes", StackComponentType.ORCHESTRATOR, K8S_CONFIG)
    client.create_stack_component("k8s_gpu", "kubernetes", StackComponentType.STEP_OPERATOR, K8S_CONFIG)
    client.create_stack("ci_k8s_stack", components={
        StackComponentType.ORCHESTRATOR: "ci_k8s",
        StackComponentType.ARTIFACT_STORE: "default",
        StackComponentType.STEP_OPERATOR: "k8s_gpu",
    })
    client.activate_stack("ci_k8s_stack")
    yield client
    client.activate_stack(previous)
    client.delete_stack("ci_k8s_stack")
    client.delete_stack_component("ci_k8s", StackComponentType.ORCHESTRATOR)
    client.delete_stack_component("k8s_gpu", StackComponentType.STEP_OPERATOR)


def recipe_options(recipe: str) -> tuple:
    return cli_support.prepare(str(PROJECT_ROOT / "configs" / "stacks" / f"{recipe}.yaml"), None, False)


def compile_recipe(recipe: str, schedule=None, without_step_operator: bool = False):
    import pipelines

    config, options = recipe_options(recipe)
    if without_step_operator:
        options["steps"]["train_embedder"].pop("step_operator")
    with cli_support.options_file(options) as path:
        pipeline = pipelines.end_to_end.with_options(config_path=path, **({"schedule": schedule} if schedule else {}))
        pipeline.prepare(config=config, corpus_fingerprint="compile-only")
        return pipeline._compile(**pipeline._run_args)  # what a run would compile: config, schedule, ...


def assert_gpu_training_and_pyproject_image(snapshot) -> None:
    steps = snapshot.step_configurations
    assert steps["train_embedder"].config.settings["resources"].gpu_count == 1
    docker = DockerSettings.model_validate(snapshot.pipeline_configuration.settings["docker"].model_dump())
    assert docker.pyproject_path == "pyproject.toml" and docker.requirements is None  # no hand-kept list
    assert docker.parent_image.startswith("pytorch/pytorch:") and "cuda" in docker.parent_image


def test_kubernetes_recipe_compiles_on_a_kubernetes_stack_with_the_gpu_step_operator(kubernetes_stack):
    snapshot, _, _ = compile_recipe("kubernetes")
    assert_gpu_training_and_pyproject_image(snapshot)
    steps = snapshot.step_configurations
    train = steps["train_embedder"].config
    assert train.step_operator == "k8s_gpu"
    # the compiler keys flavor settings by the stack's component: step_operator.kubernetes -> step_operator:k8s_gpu
    pod = train.settings["step_operator:k8s_gpu"].model_dump()["pod_settings"]
    assert pod["resources"]["limits"]["nvidia.com/gpu"] == "1" and pod["tolerations"]
    assert all(steps[name].config.step_operator is None for name in steps if name != "train_embedder")
    assert "orchestrator:ci_k8s" in snapshot.pipeline_configuration.settings


@pytest.mark.parametrize("recipe", sorted(CLOUD_SETTINGS))
def test_vertex_and_sagemaker_recipes_compile_and_their_gpu_settings_validate(recipe, zenml_repository):
    import importlib

    key, module, settings_class, operator = CLOUD_SETTINGS[recipe]
    _, options = recipe_options(recipe)
    train = options["steps"]["train_embedder"]
    assert train["step_operator"] == operator
    settings = getattr(importlib.import_module(module), settings_class)(**train["settings"][key])
    gpus = settings.accelerator_count if recipe == "vertex" else settings.estimator_args["instance_type"]
    assert gpus in (1, "ml.g5.2xlarge")
    snapshot, _, _ = compile_recipe(recipe, without_step_operator=True)
    assert_gpu_training_and_pyproject_image(snapshot)


def test_multi_gpu_recipe_trains_under_accelerate_with_the_gpus_requested(zenml_repository):
    snapshot, _, _ = compile_recipe("multi-gpu")
    steps = snapshot.step_configurations
    assert "train_embedder" not in steps
    assert {"stage_training_data", "train_embedder_distributed"} <= set(steps)
    assert steps["train_embedder_distributed"].config.settings["resources"].gpu_count == 4


def test_local_recipe_compiles_on_the_default_stack(zenml_repository):
    snapshot, _, _ = compile_recipe("local")
    assert snapshot.step_configurations["train_embedder"].config.step_operator is None


def test_schedule_is_refused_on_the_local_orchestrator_with_the_alternatives_named(zenml_repository):
    with pytest.raises(EmbedtuneError, match="cannot run schedules.*kubernetes.*vertex"):
        check_schedulable(Client().active_stack.orchestrator)
    result = subprocess.run(
        [sys.executable, "run.py", "schedule", "--cron", "0 3 * * 1"], check=False, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "cannot run schedules" in result.stderr and "Traceback" not in result.stderr


def test_a_schedulable_stack_gets_the_cron_schedule(kubernetes_stack):
    check_schedulable(Client().active_stack.orchestrator)  # no error on kubernetes
    _, schedule, _ = compile_recipe("kubernetes", schedule=build_schedule("0 3 * * 1", "weekly-retrain"))
    assert schedule.cron_expression == "0 3 * * 1" and schedule.name == "weekly-retrain"
    with pytest.raises(EmbedtuneError, match="outside 0-23"):
        build_schedule("0 25 * * 1")


@pytest.mark.slow
def test_accelerate_launcher_trains_for_real_in_a_cpu_worker(zenml_repository, tmp_path, tiny_model_dir):
    """The multi-GPU path end to end on CPU: staged inputs -> `accelerate launch` worker -> model artifact."""
    from sentence_transformers import SentenceTransformer
    from zenml import pipeline

    from steps import chunk_documents, filter_pairs, generate_queries, load_documents, mine_negatives, split_by_document
    from steps.distributed import accelerated, stage_training_data

    config = tiny_config(write_corpus(tmp_path / "corpus", repeats=2), tiny_model_dir)
    config.training.warmup_ratio = 0.0  # with 2 steps, warmup would make step 1 a no-op that validation may pick
    train_on_cpu_worker = accelerated(multi_gpu=False, cpu=True, num_processes=1)

    @pipeline(enable_cache=False)
    def accelerate_smoke() -> None:
        documents = load_documents(config.ingest, "x")
        chunks = chunk_documents(documents, config.chunking, config.model.base_model)
        pairs = filter_pairs(generate_queries(chunks, config.generation), chunks, config.filtering, config.model)
        train, validation, _ = split_by_document(mine_negatives(pairs, chunks, config.negatives, config.model),
                                                 config.split)
        staged = stage_training_data(train, validation, chunks, config.model, config.training)
        train_on_cpu_worker(training_data_uri=staged)

    run = Client().get_pipeline_run(accelerate_smoke().id)
    artifact = run.steps["train_embedder_distributed"].outputs["tuned_model"]
    artifact = artifact[0] if isinstance(artifact, list) else artifact
    tuned = SentenceTransformer(artifact.uri, device="cpu")
    base = SentenceTransformer(tiny_model_dir, device="cpu")
    changed = [not (a == b).all() for a, b in zip(tuned.parameters(), base.parameters())]
    assert any(changed), "the worker's training did not change the weights"
