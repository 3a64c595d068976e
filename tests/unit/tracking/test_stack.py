"""The local MLflow stack: credentials for a tracking server."""

import pytest

from embedtune import EmbedtuneError
from embedtune.tracking import stack as tracking


def test_server_credentials_come_from_mlflow_variables_and_loopback_needs_none():
    assert tracking.server_credentials("sqlite:////x/mlflow.db", {}) == {}
    assert tracking.server_credentials("http://127.0.0.1:5000", {}) == {"tracking_token": "no-auth-local-server"}
    assert tracking.server_credentials("https://mlflow.example", {"MLFLOW_TRACKING_TOKEN": "t"}) == {"tracking_token": "t"}
    with pytest.raises(EmbedtuneError, match="MLFLOW_TRACKING_TOKEN"):
        tracking.server_credentials("https://mlflow.example", {})


def test_stack_image_prints_the_extras_environment_and_requirements_of_a_recipe(zenml_repository):
    """`run.py stack image`: what the recipe's image installs on the active (here: local) stack, computed by
    ZenML's image builder without Docker."""
    from click.testing import CliRunner

    from commands.stack import stack
    from tests.conftest import PROJECT_ROOT

    result = CliRunner().invoke(stack, ["image", "--config", str(PROJECT_ROOT / "configs/stacks/kubernetes.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Extras: local-llm" in lines and "ENV HF_HUB_OFFLINE=1" in lines and "apt: build-essential cmake" in lines
    assert "--- .zenml_pyproject_requirements" in lines
    assert "llama-cpp-python==0.3.36" in lines and "zenml[server]==0.98.0" in lines and "openai>=1.40" not in lines
    local = CliRunner().invoke(stack, ["image", "--config", str(PROJECT_ROOT / "configs/stacks/local.yaml")])
    assert local.exit_code == 0 and "runs without an image" in local.output
