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
#: tests/browser drives Airflow 3's UI on the local stack (api-server, dag-processor), a different
#: application from Airflow 2's webserver: it is not collected on Airflow 2 rather than skipped there.
#: Quotas, the analyst DAG and the compose file are tested on both versions.
collect_ignore = ["browser"] if AIRFLOW_2 else []


def pytest_report_header(config):
    if AIRFLOW_2:
        return "tests/browser: not collected on Airflow 2 (it drives Airflow 3's UI; it runs in the Airflow 3 suite)"
    return None


def pytest_unconfigure(config):
    if MADE_AIRFLOW_HOME:
        shutil.rmtree(MADE_AIRFLOW_HOME, ignore_errors=True)
