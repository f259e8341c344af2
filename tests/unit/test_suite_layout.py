"""What runs where: the tests that run on Airflow 3 only never import Airflow."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, THROUGH_AIRFLOW, airflow_free_files

IMPORT_ALL = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
print("airflow modules:", loaded[:5])
raise SystemExit(1 if loaded else 0)
"""


def module_name(relative: str) -> str:
    return "tests." + relative.removesuffix(".py").replace("/", ".")


def test_importing_the_airflow_free_tests_loads_no_airflow_module():
    files = airflow_free_files()

    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *map(module_name, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert len(files) >= 25
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def test_the_tests_named_as_going_through_airflow_do_import_it():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *map(module_name, THROUGH_AIRFLOW)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
