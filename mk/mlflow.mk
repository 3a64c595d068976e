# A local ZenML stack with the MLflow experiment tracker (SQLite store under outputs/mlflow/), activated.
# `make stack TRACKING_URI=http://127.0.0.1:5000` points it at an MLflow server instead.
# Nothing is added to TEST_SERVICES: the MLflow services test starts its own server from .venv.
TRACKING_URI ?=

.PHONY: stack stack-show mlflow-ui

stack: install
	$(PY) run.py stack setup $(if $(TRACKING_URI),--tracking-uri $(TRACKING_URI))

stack-show: install
	$(PY) run.py stack show

mlflow-ui: install
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(abspath outputs/mlflow/mlflow.db) --host 127.0.0.1 --port 5000
