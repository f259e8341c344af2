# Set-up and everyday commands. Every target creates the virtual environment it needs.
PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
VENV_AF2 := .venv-af2
VENV_JOBS_LOW := .venv-jobs-low
PYTEST_ARGS ?=
# Test processes per suite (pytest-xdist): most tests wait on clusters, subprocesses and polls, not on
# the CPU. Each module runs in one process, so a module's emulator or DAG run is made once; every
# process has its own Airflow home, emulators and ports. --durations lists the slowest tests last.
PYTEST_WORKERS ?= 4
PYTEST_RUN = -m pytest -n $(PYTEST_WORKERS) --dist loadscope --durations=25
# Byte-code caches make the many Python processes of the tests (Airflow, Dask) start much faster.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help venv venv-af2 system-packages lint docs test test-af3 test-af2 test-jobs-lower-bounds demo emulator local-airflow benchmark benchmark-jobs benchmark-tls constraints clean

help:
	@echo "make demo       run the example DAG end to end on a local emulator with real Dask processes"
	@echo "make test       run the whole test suite on Airflow 3 (.venv) and Airflow 2 (.venv-af2),"
	@echo "                and the job scripts at the lowest releases they accept (.venv-jobs-low)"
	@echo "make test-af3   run the suite on Airflow 3 only"
	@echo "make lint       ruff check and ruff format --check over the checkout (part of make test)"
	@echo "make docs       build the documentation site into docs/_build/html, warnings as errors"
	@echo "                (make test runs the same build in tests/unit/test_docs_site.py)"
	@echo "make emulator   serve the Dataproc emulator on 127.0.0.1:8790 (data in .emulator/) until Ctrl-C"
	@echo "make local-airflow  run docker-compose.yaml's stack as local processes (UI on 127.0.0.1:8080) until Ctrl-C"
	@echo "make benchmark  run the benchmarks in benchmarks/, the jobs' last"
	@echo "make benchmark-jobs  run the jobs' benchmark alone (benchmarks/jobs.py: about 25 minutes)"
	@echo "make benchmark-tls   run the TLS overhead benchmark alone (benchmarks/tls_overhead.py: about 3 minutes)"
	@echo "make benchmark-spark  the job library against PySpark local[2] (benchmarks/vs_spark.py, own venv and Java)"

# $(1): venv folder; a venv with uv in it
define bare_venv
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
endef

# $(1): venv folder, $(2): constraints file
define make_venv
	$(call bare_venv,$(1))
	$(1)/bin/uv pip install -q --python $(1)/bin/python --constraint $(2) -e ".[test]" -e "./emulator[testing]"
	touch $(1)/.installed
endef

$(VENV)/.installed: setup.cfg pyproject.toml emulator/pyproject.toml constraints/airflow-3.txt
	$(call make_venv,$(VENV),constraints/airflow-3.txt)

$(VENV_AF2)/.installed: setup.cfg pyproject.toml emulator/pyproject.toml constraints/airflow-2.txt
	$(call make_venv,$(VENV_AF2),constraints/airflow-2.txt)

# Only what the job scripts and their references import, at its lowest accepted release: no Airflow.
$(VENV_JOBS_LOW)/.installed: constraints/jobs-lower-bounds.txt
	$(call bare_venv,$(VENV_JOBS_LOW))
	$(VENV_JOBS_LOW)/bin/uv pip sync -q --python $(VENV_JOBS_LOW)/bin/python constraints/jobs-lower-bounds.txt
	touch $@

venv: $(VENV)/.installed
venv-af2: $(VENV_AF2)/.installed

# Chromium, PostgreSQL and docker-compose for tests/browser and the compose file's check, with apt-get
# when one is missing (scripts/system_packages.sh says what to do where it cannot install them).
system-packages:
	bash scripts/system_packages.sh

test: lint test-af3 test-af2 test-jobs-lower-bounds

# ruff's rules and format (pyproject.toml's [tool.ruff]) over the whole checkout, the emulator included.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The site from scratch (-E: every page read again, so a warning is never hidden by the previous
# build), every warning an error; --keep-going reports all of them before failing.
# make test does not call this target: tests/unit/test_docs_site.py runs the same command (its
# SPHINX_BUILD) into a folder of its own and checks the result's links, markers and configuration
# reference, so the site is built once per make test, not twice.
docs: venv
	$(VENV)/bin/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html

test-af3: venv system-packages
	$(VENV)/bin/python $(PYTEST_RUN) $(PYTEST_ARGS)

# Only the tests that go through Airflow: those that never import it ran in test-af3 (tests/conftest.py).
test-af2: venv-af2 system-packages
	$(VENV_AF2)/bin/python $(PYTEST_RUN) $(PYTEST_ARGS)

# Every job against its single-process reference on tiny inputs, at the lower bounds the jobs check
# (jobs/dask_job.py's MINIMUM_VERSIONS): the run fails if a result differs or a job fails.
test-jobs-lower-bounds: $(VENV_JOBS_LOW)/.installed
	$(VENV_JOBS_LOW)/bin/python benchmarks/jobs.py --quick

demo: venv
	$(VENV)/bin/python scripts/demo.py

emulator: venv
	$(VENV)/bin/dask-dataproc-emulator --host 127.0.0.1 --port 8790 --data-dir .emulator

# PostgreSQL, the emulator and Airflow 3's services as processes on 127.0.0.1 (scripts/local_airflow.py).
LOCAL_AIRFLOW_PORT ?= 8080
local-airflow: venv
	$(VENV)/bin/python scripts/local_airflow.py start --foreground --api-port $(LOCAL_AIRFLOW_PORT)

benchmark: venv
	$(VENV)/bin/python benchmarks/parse_time.py
	$(VENV)/bin/python benchmarks/slot_time.py
	$(VENV)/bin/python benchmarks/autoscaling.py
	$(VENV)/bin/python benchmarks/tls_overhead.py
	$(VENV)/bin/python benchmarks/jobs.py

benchmark-jobs: venv
	$(VENV)/bin/python benchmarks/jobs.py

benchmark-tls: venv
	$(VENV)/bin/python benchmarks/tls_overhead.py

# PySpark (constraints/spark.txt) beside the jobs' libraries in a venv of its own, for benchmarks/vs_spark.py
# alone: `make test` never installs it. Java from Debian's JRE, with apt-get, only when there is no java.
VENV_SPARK := .venv-spark
JOB_LIBRARIES := "dask[dataframe]" distributed pyarrow pandas numpy fsspec xgboost-cpu networkx scikit-learn scipy

$(VENV_SPARK)/.installed: constraints/airflow-3.txt constraints/spark.txt
	$(call bare_venv,$(VENV_SPARK))
	$(VENV_SPARK)/bin/uv pip install -q --python $(VENV_SPARK)/bin/python --constraint constraints/airflow-3.txt \
		--constraint constraints/spark.txt $(JOB_LIBRARIES) pyspark
	touch $@

.PHONY: benchmark-spark
benchmark-spark: $(VENV_SPARK)/.installed
	command -v java >/dev/null 2>&1 || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends default-jre-headless)
	$(VENV_SPARK)/bin/python benchmarks/vs_spark.py

constraints:
	@echo "Regenerate a constraints file from a fresh resolve, e.g.:"
	@echo "  uv pip compile --python-version 3.11 setup.cfg --extra test -o constraints/airflow-3.txt"

clean:
	rm -rf $(VENV) $(VENV_AF2) $(VENV_JOBS_LOW) .demo .emulator .airflow .local-airflow test-artifacts docs/_build *.egg-info
