"""Experiment tracking: MLflow logging from the steps (mlflow.py) and the local MLflow stack (stack.py)."""
