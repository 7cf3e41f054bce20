# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make demo   start the sandbox, run one full DAG run, print the lag table, stop everything
#   make test   lint (ruff check, ruff format --check, mypy), then run the whole test suite
#   make lint   only the lint step
# Both create .venv from requirements.lock when it is missing or stale and install the Debian
# packages the test bed needs when they are missing. A second run does neither.

PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
SYSDEPS_STAMP := $(VENV)/.sysdeps

.PHONY: demo test lint soak lock sysdeps venv bench clean

demo: $(STAMP) sysdeps
	$(VENV)/bin/python -m sandbox.demo

test: lint sysdeps
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The whole tree is formatted and linted by ruff (pyproject.toml); the package is type-checked.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The scheduler test for longer (tests/test_scheduler.py): scheduler + dag-processor + api-server
# on Postgres for about 8 real minutes, with sshd stopped for two of them. `make test` runs its
# short version; select it alone with PYTEST_ARGS="-m scheduler".
soak: $(STAMP) sysdeps
	KAFKA_MONITOR_SOAK=1 $(VENV)/bin/python -m pytest tests/test_scheduler.py tests/test_scheduler_celery.py -m scheduler $(PYTEST_ARGS)

bench: $(STAMP) sysdeps
	for b in bench/bench_*.py; do $(VENV)/bin/python $$b || exit 1; done

venv: $(STAMP)

sysdeps:
	@scripts/ensure-system-deps

# Rebuilt when the lock or the project metadata changes (stale), or when .venv is missing.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@test -x $(VENV)/bin/uv || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements.lock)"
	$(VENV)/bin/uv pip sync --quiet --python $(VENV)/bin/python --require-hashes requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Re-resolve requirements.in into the hash-pinned lock (needs the registry).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile --python-version 3.11 --generate-hashes --no-header requirements.in -o requirements.lock

clean:
	rm -rf $(VENV)
