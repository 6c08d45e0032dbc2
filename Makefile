# The two commands of the README. Both run the idempotent set-up first.
VENV ?= .venv
PY := $(VENV)/bin/python
# Default test selection for CI and `make test`: everything but `slow` (gpu tests skip themselves).
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup run test test-slow lint smoke-data clean

setup:
	@bash scripts/setup.sh

# The smoke study (about 10 min on 2 quiet cores), its table, and a picture of the best
# model's predictions on validation images (its path and the next commands are printed).
run: setup
	$(VENV)/bin/orchestrator run studies/smoke.yaml
	$(VENV)/bin/orchestrator table studies/smoke.yaml --format md
	$(PY) tools/best_predictions.py studies/smoke.yaml

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The other tier: real trainings, whole studies, one kill per fault window (CI runs it too).
test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf .workspace work_dirs .pytest_cache
