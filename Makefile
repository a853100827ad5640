# trailsift: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The SAM CLI gets a venv of its own: its pins clash with moto/boto3 in .venv.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: demo test typecheck bench lint clean

$(STAMP): pyproject.toml layers/trailsift/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install --quiet aws-sam-cli
	touch $(SAM_STAMP)

# The whole application on this machine over the sample files: about 110 lines that fit 80 columns and end
# with the summary (trailsift local --full shows everything, --quiet the summary only, --keep keeps the
# local stack up until Ctrl-C and prints the trailsift query command that reads it).
demo: $(STAMP)
	$(BIN)/trailsift local events/logs

# mypy first: a type error fails `make test` (and CI) before the suite runs. Configuration: pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/python -m mypy

test: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m mypy
	# One test file per worker at a time (--dist loadfile): the fault-injection file sums its own schedules.
	SAM_CLI=$(abspath $(SAM_VENV)/bin/sam) CFN_LINT=$(abspath $(SAM_VENV)/bin/cfn-lint) \
		$(BIN)/python -m pytest -n auto --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/shapes_bench.py
	$(BIN)/python bench/function_bench.py
	$(BIN)/python bench/backfill_bench.py
	$(BIN)/python bench/impact_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache
