"""What the container image of a stack recipe installs, derived from the run's config and the stack, never
hand-listed.

A recipe for a containerized stack (`configs/stacks/*.yaml`) has a `settings.docker` block; before the run is
submitted, `image_settings` completes it:

- `pyproject_export_command`: this module's `export` (below), which ZenML runs when it builds the image, writes
  the requirements of `pyproject.toml`: its dependencies plus exactly the extras the run needs
  (`required_extras`): the generation backend's (`llamacpp` -> `local-llm`, `openai` -> `openai`) and engine's
  (`generation.engine: ray` -> `ray`), the filesystem of every remote URI in the config (`s3://` -> `s3`,
  `gs://` -> `gcs`, `az://` -> `azure`) and the stack's components (an MLflow experiment tracker -> `mlflow`,
  an S3 / GCS / Azure artifact store -> `s3` / `gcs` / `azure`). ZenML adds the stack integrations' own
  requirements beside them.
- `environment.HF_HUB_OFFLINE`: "1" when every model the config names is bundled, in the artifact store or
  inside the project; "0" when one is a Hugging Face Hub id the image must download (`hub_models`).
- `apt_packages` and `environment.CMAKE_ARGS` for llama.cpp, which builds from source, only when `local-llm`
  is installed (a portable build: the image may run on another CPU than the one that built it).

`python -m embedtune.tracking.images --extras a,b DIRECTORY` prints the requirements (stdlib only, so the
export runs with any Python that can import this package).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT = "embedtune"
BACKEND_EXTRAS = {"llamacpp": "local-llm", "openai": "openai", "vllm": "vllm"}
ENGINE_EXTRAS = {"ray": "ray"}  # generation.engine -> extra (the step connects to the Ray cluster from the image)
# (stack component type, flavor) -> extra
FLAVOR_EXTRAS = {
    ("experiment_tracker", "mlflow"): "mlflow",
    ("model_registry", "mlflow"): "mlflow",
    ("artifact_store", "s3"): "s3",
    ("artifact_store", "gcp"): "gcs",
    ("artifact_store", "azure"): "azure",
}
LLAMA_APT_PACKAGES = ["build-essential", "cmake"]
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF"  # portable: the Makefile's native build would SIGILL on another CPU
OFFLINE_ENV = "HF_HUB_OFFLINE"
_EXTRA_REFERENCE = re.compile(rf"^{PROJECT}\[(?P<extras>[^\]]+)\]\s*$", re.IGNORECASE)


def config_uris(config: Any) -> list[str]:
    """Every corpus, model or file location of `config` (an `EmbedtuneConfig`) that the steps read."""
    values = [config.ingest.corpus, config.model.base_model, config.evaluation.gold, config.generation.example_queries]
    if config.teacher.kind == "cross_encoder":
        values.append(config.teacher.cross_encoder)
    if config.generation.backend in ("transformers", "vllm"):
        values.append(config.generation.local_model.model)
    return [value for value in values if value]


def required_extras(config: Any, stack_flavors: Mapping[str, str] | None = None) -> list[str]:
    """The pyproject extras the image needs for `config` on a stack of `stack_flavors` ({component type: flavor},
    e.g. {"artifact_store": "s3", "experiment_tracker": "mlflow"}), sorted."""
    from embedtune.util.remote import extra_for

    extras = {BACKEND_EXTRAS.get(config.generation.backend), ENGINE_EXTRAS.get(config.generation.engine)}
    extras.update(extra_for(uri) for uri in config_uris(config))
    extras.update(FLAVOR_EXTRAS.get((kind, flavor)) for kind, flavor in (stack_flavors or {}).items())
    return sorted(extra for extra in extras if extra)


def hub_models(config: Any, project_root: str | Path) -> list[str]:
    """The models `config` names that only the Hugging Face Hub can supply inside an image: not the bundled
    all-MiniLM-L6-v2 (a dependency), not a remote URI (downloaded from the store), not a path inside the project
    (copied into the image)."""
    from embedtune.models.paths import BUNDLED_MINILM_NAMES, BUNDLED_MPNET_NAMES
    from embedtune.util.remote import is_remote

    names = [config.model.base_model]
    if config.teacher.kind == "cross_encoder":
        names.append(config.teacher.cross_encoder)
    if config.generation.backend in ("transformers", "vllm"):
        names.append(config.generation.local_model.model)
    root = Path(project_root).resolve()
    found = []
    for name in filter(None, names):
        if name.lower() in BUNDLED_MINILM_NAMES | BUNDLED_MPNET_NAMES or is_remote(name):
            continue
        path = Path(name).expanduser()
        path = path if path.is_absolute() else root / path
        if path.exists() and path.resolve().is_relative_to(root):
            continue
        found.append(name)
    return found


def export_command(extras: Sequence[str], python: str | None = None) -> list[str]:
    """The `pyproject_export_command` ZenML runs (through a shell, `{directory}` replaced by the folder of
    pyproject.toml) to write the image's requirements."""
    python = shlex.quote(python or sys.executable)
    return ["cd", "'{directory}'", "&&", python, "-m", "embedtune.tracking.images", "--extras",
            ",".join(extras) or "''", "'{directory}'"]


def image_settings(
    config: Any, docker: Mapping[str, Any], stack_flavors: Mapping[str, str] | None, project_root: str | Path,
    python: str | None = None,
) -> dict[str, Any]:
    """`docker` (a recipe's `settings.docker`) completed for `config`: see the module docstring. A recipe that
    sets HF_HUB_OFFLINE to "1" while a model must come from the hub is refused (the step would fail later)."""
    from embedtune import EmbedtuneError, logger

    settings = dict(docker)
    extras = required_extras(config, stack_flavors)
    settings.setdefault("pyproject_path", "pyproject.toml")
    if not Path(settings["pyproject_path"]).exists():
        settings["pyproject_path"] = str(Path(project_root).resolve() / settings["pyproject_path"])
    settings["pyproject_export_command"] = export_command(extras, python)
    environment = {str(key): str(value) for key, value in (settings.get("environment") or {}).items()}
    hub = hub_models(config, project_root)
    offline = "0" if hub else "1"
    if environment.get(OFFLINE_ENV, offline) not in (offline, "true" if offline == "1" else "false"):
        if hub:
            raise EmbedtuneError(
                f"settings.docker.environment sets {OFFLINE_ENV}={environment[OFFLINE_ENV]}, but {', '.join(hub)} can "
                f"only come from the Hugging Face Hub inside the image: remove {OFFLINE_ENV} from the recipe (it "
                "follows the config), or point the model at a folder in the artifact store (s3://...)"
            )
        logger.info("the image keeps %s=%s as the recipe sets it", OFFLINE_ENV, environment[OFFLINE_ENV])
    environment.setdefault(OFFLINE_ENV, offline)
    if "local-llm" in extras:
        environment.setdefault("CMAKE_ARGS", LLAMA_CMAKE_ARGS)
        settings["apt_packages"] = list(dict.fromkeys([*(settings.get("apt_packages") or []), *LLAMA_APT_PACKAGES]))
    settings["environment"] = environment
    logger.info("image: pyproject.toml with extras [%s], %s=%s", ",".join(extras), OFFLINE_ENV,
                environment[OFFLINE_ENV])
    return settings


def base_model_checked_here(config: Any, options: Mapping[str, Any], project_root: str | Path) -> bool:
    """Whether the CLI may load the base model on the submitting machine to check it: not for a URI (read
    inside the steps), nor for a hub id on a containerized recipe (the image downloads it)."""
    from embedtune.util.remote import is_remote

    if is_remote(config.model.base_model):
        return False
    containerized = isinstance((options.get("settings") or {}).get("docker"), Mapping)
    return not (containerized and config.model.base_model in hub_models(config, project_root))


def submission_options(
    config: Any, options: Mapping[str, Any], project_root: str | Path, stack_flavors: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ZenML run options for `config`, completed before submission: a remote corpus is read again by every
    run (`load_documents` uncached: nothing was fingerprinted here), and a recipe's `settings.docker` gets the
    image settings of `image_settings` (for the active stack's flavors unless `stack_flavors` is given)."""
    import copy

    from embedtune import logger
    from embedtune.util.remote import is_remote

    options = copy.deepcopy(dict(options))
    if is_remote(config.ingest.corpus):
        logger.info("corpus %s is read inside the load_documents step, afresh in every run", config.ingest.corpus)
        steps = options.setdefault("steps", {})
        steps.setdefault("load_documents", {})["enable_cache"] = False
    docker = (options.get("settings") or {}).get("docker")
    if isinstance(docker, Mapping):
        flavors = active_stack_flavors() if stack_flavors is None else stack_flavors
        options["settings"]["docker"] = image_settings(config, docker, flavors, project_root)
    return options


def active_stack_flavors() -> dict[str, str]:
    """{component type: flavor} of the active ZenML stack (`orchestrator`, `artifact_store`, ...)."""
    from zenml.client import Client

    model = Client().active_stack_model
    return {str(kind.value): items[0].flavor_name for kind, items in model.components.items() if items}


def image_requirements(docker: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(file name, requirements text) of every requirements file ZenML's image builder would install for the
    `docker` settings on the active stack (`PipelineDockerImageBuilder.gather_requirements_files`: the stack
    integrations', then pyproject's through the export command, then any listed ones); builds nothing."""
    from zenml.client import Client
    from zenml.config import DockerSettings
    from zenml.utils.pipeline_docker_image_builder import PipelineDockerImageBuilder

    settings = DockerSettings.model_validate(dict(docker))
    files = PipelineDockerImageBuilder.gather_requirements_files(settings, Client().active_stack, log=False)
    return [(name, content) for name, content, _ in files]


def requirement_names(text: str) -> set[str]:
    """The normalised project names in a requirements text (`llama_cpp_python==0.3` -> `llama-cpp-python`)."""
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match and not line.startswith("-"):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


# --- the export ZenML runs (standard library only) -------------------------------------------------------------


def _read_pyproject(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with path.open("rb") as handle:
        return tomllib.load(handle)


def export_requirements(pyproject: str | Path, extras: Sequence[str]) -> str:
    """The requirements (one per line) of `pyproject`'s `[project] dependencies` plus those of each extra in
    `extras`, with `embedtune[x]` references inside an extra followed; an extra the file does not define is a
    ValueError (an image without it would fail at run time)."""
    project = _read_pyproject(Path(pyproject)).get("project", {})
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    lines = list(project.get("dependencies", []))
    pending, seen = [extra.strip() for extra in extras if extra.strip()], set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise ValueError(f"{pyproject} defines no extra '{extra}' (it has: {', '.join(sorted(optional))})")
        for requirement in optional[extra]:
            reference = _EXTRA_REFERENCE.match(requirement)
            if reference:
                pending.extend(name.strip() for name in reference.group("extras").split(","))
            else:
                lines.append(requirement)
    return "\n".join(dict.fromkeys(lines)) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print pyproject.toml's requirements with the given extras.")
    parser.add_argument("--extras", default="", help="Comma-separated extras, e.g. local-llm,mlflow.")
    parser.add_argument("directory", help="The folder holding pyproject.toml.")
    args = parser.parse_args(argv)
    try:
        text = export_requirements(Path(args.directory) / "pyproject.toml", args.extras.split(","))
    except (OSError, ValueError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
