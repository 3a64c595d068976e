# A local Argilla 2.8 server for curation, without Docker or Elasticsearch (see scripts/argilla/server.py):
# its own venv (argilla-server cannot share the project's: bcrypt/fastapi pins), SQLite, embedtune's SQL search
# engine, Debian's redis-server (installed here with apt-get when missing and run as root; otherwise an
# in-process fakeredis stands in). The services tests start and stop their own server on a free port.
ARGILLA_VENV := .argilla-venv
ARGILLA_PY := $(ARGILLA_VENV)/bin/python
ARGILLA_HOME ?= .argilla
ARGILLA_HOST ?= 127.0.0.1
ARGILLA_PORT ?= 6900
ARGILLA_SERVER_SPEC := "argilla-server==2.8.0" "click<8.2" "fakeredis>=2.20"

.PHONY: argilla-install argilla-redis argilla-up argilla-down

$(ARGILLA_VENV)/.installed: mk/argilla.mk
	$(PYTHON) -m venv $(ARGILLA_VENV)
	$(ARGILLA_VENV)/bin/pip install -q -U pip
	$(ARGILLA_VENV)/bin/pip install -q $(ARGILLA_SERVER_SPEC)
	touch $@

argilla-redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		else \
			echo "note: redis-server not installed (apt-get install redis-server); Argilla will use fakeredis"; \
		fi; \
	fi

argilla-install: $(ARGILLA_VENV)/.installed argilla-redis

argilla-up: argilla-install
	$(ARGILLA_PY) scripts/argilla/server.py start --background --worker --home $(ARGILLA_HOME) \
		--host $(ARGILLA_HOST) --port $(ARGILLA_PORT)

argilla-down:
	@if [ -x $(ARGILLA_PY) ]; then $(ARGILLA_PY) scripts/argilla/server.py stop --home $(ARGILLA_HOME); fi

TEST_SERVICES += argilla-install
