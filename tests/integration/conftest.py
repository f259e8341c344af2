"""A live Dataproc emulator, started as a subprocess on 127.0.0.1 and stopped after the tests."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from airflow_dask_provider.emulator.testing import dask_processes, run_emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """Start one emulator for the session and point the provider at it."""
    with run_emulator(tmp_path_factory.mktemp("emulator")) as running:
        saved = {key: os.environ.get(key) for key in ("DATAPROC_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")}
        os.environ["DATAPROC_EMULATOR_HOST"] = running.grpc_target
        os.environ["STORAGE_EMULATOR_HOST"] = running.storage_url
        try:
            yield running
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    assert dask_processes(parent=running.pid) == [], "the emulator left Dask processes behind"


@pytest.fixture
def context(tmp_path):
    """A task context with what the operators read from it."""
    ti = SimpleNamespace(
        dag_id="itest",
        task_id="task",
        run_id=f"manual__{tmp_path.name}",
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value: None,
    )
    return {"ti": ti, "dag": SimpleNamespace(fileloc=str(tmp_path / "dag.py"))}
