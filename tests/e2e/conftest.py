"""Real Airflow (``airflow dags test`` in a subprocess) against a live emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from dask_dataproc_emulator.testing import dask_processes, run_emulator
from tests.devtools import airflow_environment, migrate_db

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    """An Airflow home with a migrated metadata database, shared by the session."""
    home = tmp_path_factory.mktemp("airflow-home")
    migrate_db(
        airflow_environment(
            airflow_home=home, dags_folder=REPO / "dags", emulator_host="127.0.0.1:1", storage_url="http://127.0.0.1:2"
        )
    )
    return home


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with run_emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running
    assert dask_processes(parent=running.pid) == [], "the emulator left Dask processes behind"


def environment(airflow_home: Path, emulator, dags_folder: Path) -> dict[str, str]:
    return airflow_environment(
        airflow_home=airflow_home,
        dags_folder=dags_folder,
        emulator_host=emulator.grpc_target,
        storage_url=emulator.storage_url,
    )
