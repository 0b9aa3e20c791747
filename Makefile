# Two commands set everything up: `make run` and `make test`.
# Everything lives in .venv; nothing is installed system-wide except the
# Debian packages the browser tests need (chromium), when run as root.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app booking
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-sqlite test-postgres lint typecheck check bench translations \
        extract-messages migrate seed clean browser-deps

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Compiled message catalogues are build products (.mo are not committed).
translations: $(STAMP)
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations -f

extract-messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -k _nav_label:1c,2 -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

migrate: $(STAMP)
	mkdir -p instance
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed-demo --if-empty

run: translations seed
	BOOKING_SCHEDULER_IN_PROCESS=true $(FLASK) run --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then again on a fresh PostgreSQL database when one
# is reachable (required when CI=true). Browser tests need Debian's chromium.
test: translations browser-deps
	$(PY) scripts/test_matrix.py

test-sqlite: translations
	$(PY) -m pytest

browser-deps:
	@scripts/ensure_chromium.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check booking instruments vouchers tests bench config.py scripts

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test

bench: translations
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache translations/*/LC_MESSAGES/*.mo
