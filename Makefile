# Two commands for a newcomer: `make run` (the product on SQLite) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The demo's settings: DEBUG on, SQLite in the project, a signing secret everyone knows.
DEMO_ENV := DJANGO_DEBUG=1 STRIPE_WEBHOOK_SECRETS=whsec_demo_bootwebhooks_not_a_real_secret

.PHONY: install run test lint lock bench profile screenshots

install: $(INSTALLED)

$(INSTALLED): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

run: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The PNGs in docs/img/ that docs/SUPPORT.md shows, taken by the browser tests (needs chromium).
screenshots: install
	BOOTWEBHOOKS_SCREENSHOTS=docs/img $(BIN)/python -m pytest tests/browser -q

# Benchmarks and reliability runs (docs/BENCHMARKS.md): starts its own PostgreSQL and gunicorn.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Where a new event's time goes: py-spy on the workers, statements per event type (BENCHMARKS.md).
profile: install
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

# Regenerate the lock after changing pyproject.toml (needs uv: `pip install uv`).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --no-header -o requirements.lock
