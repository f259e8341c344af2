"""A live Dataproc emulator, started as a subprocess on 127.0.0.1 and stopped after the tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dask_dataproc_emulator.testing import dask_processes, run_emulator
from tests.fake_task_instance import fake_task_instance


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """Start one emulator for the session."""
    with run_emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running
    assert dask_processes(parent=running.pid) == [], "the emulator left Dask processes behind"


@pytest.fixture(autouse=True)
def point_at_emulator(request, monkeypatch):
    """Point the provider at the emulator for the tests that use one, and only for them."""
    if "emulator" not in request.fixturenames:
        return
    running = request.getfixturevalue("emulator")
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", running.grpc_target)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", running.storage_url)


@pytest.fixture
def context(tmp_path):
    """A task context with what the operators read from it."""
    ti = fake_task_instance("task", f"manual__{tmp_path.name}")
    return {"ti": ti, "dag": SimpleNamespace(fileloc=str(tmp_path / "dag.py"))}


def dask_client(created: dict):
    """Return a ``distributed.Client`` of a cluster the create operator returned, with its credential."""
    from distributed import Client

    from airflow_dask_provider.hooks import DaskDataprocHook

    security = DaskDataprocHook().dask_scheduler.get_security(tls_credential_uri=created["tls_credential_uri"])
    return Client(created["scheduler_address"], security=security, timeout=30)
