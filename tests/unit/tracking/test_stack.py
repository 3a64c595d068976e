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
