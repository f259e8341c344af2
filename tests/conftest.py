"""Test-wide settings: an Airflow home of the session's own, set before Airflow is imported."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The Airflow home this session made (removed when the session ends), or None when the caller gave one.
MADE_AIRFLOW_HOME = None
if "AIRFLOW_HOME" not in os.environ or os.environ.get("CI"):
    MADE_AIRFLOW_HOME = os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
# What an administrator sets: the nodes' service account of a cluster whose task names none (the
# emulator accepts any well-formed email). Tests of a create without it remove it.
os.environ.setdefault(
    "AIRFLOW__DASK_DATAPROC__DEFAULT_SERVICE_ACCOUNT", "dask-nodes@local-project.iam.gserviceaccount.com"
)
# Unit tests must never reach an emulator or Google by accident.
os.environ.pop("DATAPROC_EMULATOR_HOST", None)
os.environ.pop("STORAGE_EMULATOR_HOST", None)

from importlib.metadata import version  # noqa: E402

AIRFLOW_2 = version("apache-airflow").startswith("2.")
TESTS = Path(__file__).resolve().parent

#: Test folders and files that never import Airflow: the emulator alone, the job scripts and the
#: driver alone, the initialization actions, the benchmarks. They run once, in the Airflow 3 suite;
#: everything else goes through Airflow and runs on both versions. tests/unit/test_suite_layout.py
#: checks that importing them loads no Airflow module.
AIRFLOW_FREE = (
    "unit/emulator",
    "integration/emulator",
    "unit/jobs",
    "init_actions",
    "unit/test_driver.py",
    "unit/test_benchmark_page_reporting.py",
    "unit/test_benchmark_tls_overhead.py",
    "unit/test_docs_links.py",
    "integration/jobs/test_benchmark_quick.py",
)
#: ... but for these, which drive the provider's operators and sensors against the emulator.
THROUGH_AIRFLOW = ("integration/emulator/test_idle_sensor.py", "integration/emulator/test_ttl_ceiling.py")


def airflow_free_files() -> list[str]:
    """Return the test files (relative to tests/) that never import Airflow."""
    found = []
    for entry in AIRFLOW_FREE:
        path = TESTS / entry
        files = sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
        found += [str(file.relative_to(TESTS)) for file in files]
    return [name for name in found if name not in THROUGH_AIRFLOW]


#: The local stack runs Airflow 3: tests/browser drives its UI (api-server, dag-processor), a different
#: application from Airflow 2's webserver, and test_local_stack_settings.py runs Airflow 3 with its
#: settings. They are not collected on Airflow 2 rather than skipped there. Quotas, the analyst DAG
#: and the compose file are tested on both versions.
#: `make demo` runs in .venv (Airflow 3), and the own-DAG recipe installs the newest Airflow, so
#: tests/e2e/test_demo.py and test_own_dag_recipe.py run on Airflow 3 only too. So does the documentation
#: site's build (`make docs` builds it in .venv): its pages are the same whatever Airflow imports them.
AIRFLOW_3_ONLY = (
    "browser",
    "unit/test_local_stack_settings.py",
    "e2e/test_demo.py",
    "e2e/test_own_dag_recipe.py",
    "e2e/test_lean_wheel.py",
    "unit/test_docs_site.py",
)
collect_ignore = [*AIRFLOW_3_ONLY, *airflow_free_files()] if AIRFLOW_2 else []


def pytest_report_header(config):
    if AIRFLOW_2:
        return (
            "Airflow 2: the local stack's tests (it runs Airflow 3) and the tests that never import Airflow "
            f"({len(airflow_free_files())} files: the emulator, jobs, init actions, benchmarks) run in the "
            "Airflow 3 suite only"
        )
    return None


def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadscope``, keep the tests that share a package-scoped fixture on one worker.

    loadscope sends each module to one worker, so a module-scoped fixture (an emulator, a DAG run)
    is made once; tests/browser's modules share the package-scoped local stack (PostgreSQL and
    Airflow's services), which would otherwise start once per worker.
    """
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class PackageScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/browser/"):
                return "tests/browser"
            return super()._split_scope(nodeid)

    return PackageScopeScheduling(config, log)


def pytest_unconfigure(config):
    if MADE_AIRFLOW_HOME:
        shutil.rmtree(MADE_AIRFLOW_HOME, ignore_errors=True)
