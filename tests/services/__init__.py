"""Tests against real servers (Argilla, MLflow, ZenML dashboard) and a headless browser, on loopback."""
