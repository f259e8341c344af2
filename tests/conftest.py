"""Test-wide settings: an Airflow home of the session's own, set before Airflow is imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

if "AIRFLOW_HOME" not in os.environ or os.environ.get("CI"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
# Unit tests must never reach an emulator or Google by accident.
os.environ.pop("DATAPROC_EMULATOR_HOST", None)
os.environ.pop("STORAGE_EMULATOR_HOST", None)
