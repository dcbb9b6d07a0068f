# Everyday commands: a bare `make` (make help) lists them. PYTHON must be a Python 3.13 (the Lambda runtime).
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
# aws-sam-cli pins older boto3 and pydantic: it lives in its own environment, apart from the runtime's.
TOOLS := .tools/bin
# checkov pins yet another boto3: the security scanners have an environment of their own too.
SECURITY := .security/bin
# No telemetry calls from aws-sam-cli (CI and these machines have no way out but the package registries).
export SAM_CLI_TELEMETRY := 0

.PHONY: help setup tools run demo token test quick test-random unit integration e2e lint format check docs docs-serve security validate build sam-local sam-e2e lambda-image bench deploy migrate model proof flash-sale paid-sale mutation mutation-ci

# A bare `make` lists the commands rather than running the first.
.DEFAULT_GOAL := help

help:  ## this list: every command with what it does
	@echo "Usage: make COMMAND [VARIABLE=value ...]   (the documentation: make docs-serve, or docs/)"
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z0-9_-]+:[^=]*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Python 3.13 is checked first: without it `$(PYTHON) -m venv` fails with a bare "command not found".
setup:  ## virtual environment with the runtime and development dependencies (PYTHON=/path/to/python3.13 if not on PATH)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || { \
		echo "make setup needs Python 3.13 (the Lambda runtime): '$(PYTHON)' is not one, or is not on PATH." >&2; \
		echo "Point it at one: make setup PYTHON=/path/to/python3.13  (e.g. PYTHON=\$$(pyenv which python3.13) or PYTHON=\$$(uv python find 3.13))" >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt

run:  ## the whole API locally on http://127.0.0.1:3000 (Ctrl-C stops it); a second stack: make run PORT_BASE=4000
	$(BIN)/python -m local run $(if $(PORT_BASE),--port-base $(PORT_BASE)) $(if $(METRICS),--metrics)

demo:  ## the local stack with its demo frontend as the frontend: open http://127.0.0.1:3000/demo/
	$(BIN)/python -m local run --frontend-url http://127.0.0.1:3000/demo

token:  ## a bearer token for the local API: make token USER_ID=alice [STAFF=1]
	$(BIN)/python -m local token --user $(or $(USER_ID),demo-user) $(if $(STAFF),--staff)

# The whole suite runs on every core (pytest-xdist; TEST_WORKERS=1 for one process, as a debugger needs).
# Tests are independent of order and of each other's processes (make check runs them shuffled), so
# splitting them changes nothing but the time.
TEST_WORKERS ?= auto

test:  ## the whole suite: unit, integration, end-to-end, on every core (TEST_WORKERS=n to choose)
	$(BIN)/pytest -n $(TEST_WORKERS)

# make quick leaves out the two slowest unit tests (98 of the unit tests' 148 s on 2 loaded cores): the
# hypothesis comparison of the moto patches with stock moto, and the cold-start imports of every
# function (each in a fresh interpreter). make unit and make check run them.
QUICK_SKIP = --deselect tests/unit/test_moto_patches.py::test_any_transactions_answer_and_leave_the_same_items_as_stock_moto \
	--ignore=tests/unit/test_function_imports.py

quick:  ## the unit tests but the two slowest, in random order (about 35 s of CPU; the seed is printed): the check to run while editing
	$(BIN)/pytest -p randomly $(QUICK_SKIP) tests/unit

test-random:  ## the whole suite in random order, on every core (the seed is printed; replay with RANDOM_SEED=n)
	$(BIN)/pytest -n $(TEST_WORKERS) -p randomly $(if $(RANDOM_SEED),--randomly-seed=$(RANDOM_SEED))

unit:  ## the unit tests (the domain, the local runner's parts, the template; moto where a store is needed)
	$(BIN)/pytest tests/unit

integration:  ## the integration tests (moto's DynamoDB, the local Stripe and PayPal in process)
	$(BIN)/pytest tests/integration

e2e:  ## the end-to-end tests: the local stack as a process, over HTTP (and the demo in Chromium)
	$(BIN)/pytest tests/e2e

sam-e2e:  ## the API through sam local start-api in Docker (after make tools build lambda-image; skipped, with the reason, without Docker)
	$(BIN)/pytest -m sam_local tests/e2e/test_sam_local.py

lint:  ## ruff, mypy (strict), the import contracts (import-linter, pyproject.toml) and cfn-lint on the template
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared functions local tests benchmarks migrations
	PYTHONPATH=layers/shared $(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/cfn-lint template.yaml

format:  ## ruff format and ruff check --fix over the tree
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The suite in random order (pytest-randomly): a test that leans on another's leftovers is found in CI,
# and the printed seed replays the order (make check RANDOM_SEED=n; make test keeps file order).
check: lint test-random  ## lint, then the whole suite in random order (seed printed): what CI runs

# NO_MKDOCS_2_WARNING: mkdocs-material's notice about its successor, printed on every build.
docs:  ## the documentation site into site/ (mkdocs, --strict: a broken link or a page left out fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve:  ## the documentation site on http://127.0.0.1:8000, rebuilt as the pages change
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

tools:  ## aws-sam-cli in its own environment (.tools), checkov and pip-audit in theirs (.security)
	$(PYTHON) -m venv .tools
	$(TOOLS)/python -m pip install --quiet --upgrade pip
	$(TOOLS)/python -m pip install --quiet -r requirements-tools.txt
	$(PYTHON) -m venv .security
	$(SECURITY)/python -m pip install --quiet --upgrade pip
	$(SECURITY)/python -m pip install --quiet -r requirements-security.txt

# pip-audit asks PyPI for each package's advisories. Where PyPI is reached through a mirror that
# has none of that data, pip-audit skips every package and still passes. So first a pin with a
# published advisory (requests 2.31.0, CVE-2024-35195) must be reported; only then does the audit
# of the runtime set mean anything, and it runs strict (a package it cannot audit fails it too).
# Without the data it says so, and fails only where REQUIRE_PIP_AUDIT=1.
security:  ## checkov over template.yaml (skips and their reasons: .checkov.yaml, and Metadata in the template), pip-audit over the runtime requirements
	$(SECURITY)/checkov -f template.yaml --config-file .checkov.yaml
	@mkdir -p .security/probe && echo "requests==2.31.0" > .security/probe/requirements.txt
	@if $(SECURITY)/pip-audit --progress-spinner off --no-deps --disable-pip -r .security/probe/requirements.txt >/dev/null 2>&1; then \
		echo "pip-audit: SKIPPED, PyPI as reached from here serves no vulnerability data (a known-vulnerable pin passed)" >&2; \
		test "$(REQUIRE_PIP_AUDIT)" != 1; \
	else \
		$(SECURITY)/pip-audit --progress-spinner off --strict -r layers/shared/requirements.txt; \
	fi

validate:  ## sam validate --lint (no Docker needed)
	$(TOOLS)/sam validate --lint

build:  ## sam build for arm64 (the layer's Makefile installs arm64 wheels), then bytecode for the functions too
	PYTHON=$(abspath $(BIN)/python) $(TOOLS)/sam build
	$(BIN)/python -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build

sam-local: build  ## the API under `sam local start-api` (Docker) on http://127.0.0.1:3000, its dependencies on the host: make sam-local [SAM_ARGS="--invoke-image ..."]
	$(BIN)/python -m local sam-local $(if $(SAM_ARGS),-- $(SAM_ARGS))

lambda-image:  ## (offline testing only) a stand-in for AWS's python3.13 arm64 image, for sam local --invoke-image: needs root, Docker, debootstrap, qemu-user-static
	PYTHON=$(abspath $(BIN)/python) local/lambda-image/build.sh

bench:  ## cold start through the first request against each function's floor, round trips per flow, warm CPU per request, local stack throughput and its growth
	# Every script runs; make fails at the end if any of them missed a target (each exits non-zero then).
	status=0; \
	$(BIN)/python -m benchmarks.cold_start --runs 15 || status=1; \
	$(BIN)/python -m benchmarks.round_trips || status=1; \
	$(BIN)/python -m benchmarks.local_load || status=1; \
	$(BIN)/python -m benchmarks.local_growth --stock || status=1; \
	$(BIN)/python -m benchmarks.warm_cpu --requests 500 || status=1; \
	exit $$status

deploy:  ## sam deploy to the dev environment (see samconfig.toml)
	$(TOOLS)/sam deploy --config-env dev

# A stage of samconfig.toml names its stack (whose output TicketsTableName is the table) and region;
# TABLE=name migrates a table by name instead. Run order around a deploy: docs/operations.md.
migrate:  ## move a tickets table from before the hot-key change to its new keys: make migrate STAGE=dev|prod (or TABLE=name) [DRY_RUN=1] [ONLY=counters]
	@test -n "$(STAGE)$(TABLE)" || { echo "make migrate needs STAGE=dev|prod (a stage of samconfig.toml) or TABLE=name" >&2; exit 1; }
	$(BIN)/python -m migrations.hot_keys $(if $(TABLE),--table $(TABLE),--stage $(STAGE)) $(if $(DRY_RUN),--dry-run) $(if $(ONLY),--only $(ONLY))

flash-sale:  ## the simulated on-sale: 50,000 seats, 100,000 buyers at 2,000/s, for 1, 4, 16 and 64 seat shards (about 15 minutes), then the paid queued sale (paid-sale)
	$(BIN)/python -m benchmarks.flash_sale --check
	$(MAKE) --no-print-directory paid-sale

paid-sale:  ## the paid on-sale through the queue, scaled down 25x (2,000 seats, 8,000 buyers in 2.4 s) at Stripe's 25/s and 100/s (about 5 minutes)
	$(BIN)/python -m benchmarks.paid_sale --seats 2000 --buyers 8000 --arrival-seconds 2.4

model:  ## the money model's main run: 1000 seeded sequences in memory (the in-memory store twins), every rule fired (a few minutes; CI runs it)
	$(BIN)/pytest -q -s -m money_model tests/integration/test_money_model.py

proof:  ## load, faults, attacks, fuzzing and log scanning, then the summary table
	rm -f test-artifacts/proof.json
	$(BIN)/pytest -q tests/e2e/test_proof_concurrency.py tests/e2e/test_proof_attacks.py tests/e2e/test_proof_fuzz.py tests/e2e/test_local_stack.py \
		tests/integration/test_faults_and_reconciliation.py tests/integration/test_ticket_races.py tests/integration/test_logs.py
	# The money model with many more sequences than CI's seeded run (2000 in memory, 10 on moto, 20 over HTTP); MODEL_RANDOM=1 for a fresh random draw instead of the seeded one.
	MODEL_EXAMPLES=$(or $(MODEL_EXAMPLES),2000) MODEL_HTTP_EXAMPLES=$(or $(MODEL_HTTP_EXAMPLES),20) MODEL_STEPS=40 $(BIN)/pytest -q -s -m 'not sam_local' tests/integration/test_money_model.py
	$(BIN)/python -m benchmarks.proof_summary

# Mutation testing (docs/mutation.md). mutmut mutates the layer through a src -> layers/shared link (why:
# [tool.mutmut] in pyproject.toml), runs for each mutant the unit and integration tests that reach the
# function it changed, and keeps its results in mutants/ (a second run re-checks only changed functions).
# The money model runs its seeded CI slice per mutant. MUTATION_WORKERS: mutants at once (default: every core).
MUTMUT_RUN = MODEL_EXAMPLES=20 $(BIN)/mutmut run $(if $(MUTATION_WORKERS),--max-children $(MUTATION_WORKERS))

mutation:  ## mutation testing of the domain, its repositories and money (hours on 2 cores), then the score and every survivor
	ln -sfn layers/shared src
	$(MUTMUT_RUN)
	$(BIN)/python -m benchmarks.mutation report

# CI's slice, bounded to a few minutes: mutmut's first pass runs every selected test once (to learn
# which reach which function), so the slice selects only the fast tests that are meant to hold the
# stores, the life cycle's rows, the money records, money's currency rules and the queue (about a
# minute on 2 cores), and draws its mutants from the files those tests hold (MUTATION_CI_SCOPE):
# those of the files HEAD changes against its merge base with MUTATION_BASE (default HEAD~1), or a
# seeded sample of MUTATION_SAMPLE over the whole slice's scope when none changed. Fails under 90%
# of the non-equivalent mutants killed. The domain's services (tickets, webhooks, reconciliation),
# held by the integration tests and the money model, are measured by `make mutation` (docs/mutation.md).
MUTATION_CI_TESTS = tests/unit/test_lifecycle_rows.py tests/unit/test_money_records.py tests/unit/test_money.py \
	tests/unit/test_queue_admission.py tests/unit/test_queue_service.py tests/unit/test_queue_admitter.py tests/integration/test_on_sale_queue.py \
	tests/integration/test_hot_keys_migration.py tests/integration/test_attack_hot_keys.py
MUTATION_CI_SKIP = $(addprefix --ignore=,$(filter-out $(MUTATION_CI_TESTS),$(wildcard tests/unit/test_*.py tests/integration/test_*.py)))
MUTATION_CI_SCOPE = 'layers/shared/payments/repositories/*.py' layers/shared/payments/domain/records.py \
	layers/shared/payments/domain/lifecycle.py layers/shared/payments/domain/admission.py layers/shared/payments/domain/queue.py \
	layers/shared/payments/money.py

mutation-ci:  ## a bounded mutation run for CI (minutes on 2 cores): fails under 90% killed
	rm -rf mutants && ln -sfn layers/shared src
	$(BIN)/python -m benchmarks.mutation select --base $(or $(MUTATION_BASE),HEAD~1) --sample $(or $(MUTATION_SAMPLE),12) \
		--scope $(MUTATION_CI_SCOPE) > .mutation-ci.txt
	PYTEST_ADDOPTS="$(MUTATION_CI_SKIP)" $(MUTMUT_RUN) $$(cat .mutation-ci.txt)
	$(BIN)/python -m benchmarks.mutation report --only-from .mutation-ci.txt --goal 0.9
