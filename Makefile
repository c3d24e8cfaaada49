# Two commands set everything up: `make dev` and `make test`.
PY := .venv/bin/python
STAMP := .venv/.installed
REQS := requirements.txt requirements-dev.txt workers/requirements.txt
# CPython 3.13 on Node.js, which compiles the Lambda package's bytecode
# (components/bytecode.py): building the package (`make test`, `make bench`,
# `pulumi up`) needs it; the local stack runs the handlers from source without.
COMPILER := components/pyodide/node_modules/.installed

.PHONY: dev test lint bench soak fuzz ops clean

# The venv is rebuilt whenever any requirements file is newer than the stamp.
$(STAMP): $(REQS)
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(COMPILER): components/pyodide/package-lock.json
	@command -v npm >/dev/null || { echo "Building the Lambda package needs Node.js 18+ and npm (apt-get install -y nodejs npm)"; exit 1; }
	npm ci --prefix components/pyodide --no-audit --no-fund --loglevel=error
	touch $(COMPILER)

dev: $(STAMP)
	$(PY) -m local

# Lint first (ruff.toml); a finding fails the target before any test runs.
# Then three phases: most files on two xdist workers (pytest.ini), then the tests
# on the emulated queue clocks, a file to each of two workers (the alarm drills
# mostly wait for alarm periods, so they sit beside the soak), then
# least privilege over the IAM decisions both recorded (a fresh directory in
# UPLOADS_IAM_RECORD_DIR; tests/iam/test_least_privilege.py prints the table).
# All three always run; any failing fails the target.
test: $(STAMP) $(COMPILER)
	$(PY) -m ruff check .
	@record=$$(mktemp -d -t uploads-iam-XXXXXX); export UPLOADS_IAM_RECORD_DIR=$$record; \
	echo "IAM decisions are recorded in $$record"; \
	$(PY) -m pytest -m "not clocks and not least_privilege"; parallel=$$?; \
	$(PY) -m pytest -m "clocks and not least_privilege" -n 2; clocks=$$?; \
	$(PY) -m pytest -m least_privilege -n 0 -s; privilege=$$?; \
	exit $$(( parallel || clocks || privilege ))

lint: $(STAMP)
	$(PY) -m ruff check .

# The API's schemathesis run with a bigger profile than the one in `make test`.
fuzz: $(STAMP)
	API_FUZZ_EXAMPLES=200 $(PY) -m pytest tests/e2e/api/test_fuzz.py -s

# Every performance figure against its goal, in one run (several minutes):
# bench/results.json and docs/benchmarks.md. A missed goal is not a failure.
bench: $(STAMP) $(COMPILER)
	$(PY) -m bench

# Uploads through a deliberately faulty local stack, then a reconciliation of
# S3, the table and both queues (bench/soak.py); `make soak ARGS="--uploads 100"`.
soak: $(STAMP)
	$(PY) -m bench.soak $(ARGS)

# The on-call CLI (docs/runbooks.md): `make ops ARGS="status"`, `make ops ARGS="--stack prod dlq peek"`.
ops: $(STAMP)
	$(PY) -m ops $(ARGS)

clean:
	rm -rf .venv .local build components/pyodide/node_modules
