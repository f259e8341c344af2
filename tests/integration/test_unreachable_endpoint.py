"""Issue 20 acceptance: a create against a closed port fails within 60 s, naming the address.

No emulator: the port is taken from the kernel and closed again, so nothing listens there.
"""

from __future__ import annotations

import socket
import time

import pytest

from airflow_dask_provider.exceptions import EndpointUnreachableError
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator
from dask_dataproc_emulator.testing import unused_ports

WHERE = {"project_id": "local-project", "region": "europe-west1"}


def closed_port() -> int:
    """Return a port that nothing listens on (nor on the next one, the storage emulator's)."""
    while True:
        (port,) = unused_ports(1)
        with socket.socket() as other:
            if other.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port


@pytest.fixture
def dead_endpoint(monkeypatch) -> str:
    port = closed_port()
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", f"127.0.0.1:{port}")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port + 1}")
    return f"127.0.0.1:{port}"


def test_a_create_against_a_closed_port_fails_within_60_s_naming_the_address(dead_endpoint, context, caplog):
    create = DaskDataprocCreateClusterOperator(task_id="create", cluster_name="dask-nowhere", deferrable=False, **WHERE)
    caplog.set_level("WARNING")
    start = time.monotonic()

    with pytest.raises(EndpointUnreachableError) as raised:
        create.execute(context)

    took = time.monotonic() - start
    print(f"create against {dead_endpoint} failed after {took:.1f} s: {raised.value}")
    assert took < 60
    assert dead_endpoint in str(raised.value)
    assert "Connection refused" in str(raised.value) or "failed to connect" in str(raised.value)


def test_the_option_shortens_the_wait(dead_endpoint, context, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__API_UNREACHABLE_TIMEOUT", "5")
    create = DaskDataprocCreateClusterOperator(task_id="create", cluster_name="dask-nowhere", deferrable=False, **WHERE)
    start = time.monotonic()

    with pytest.raises(EndpointUnreachableError, match=dead_endpoint.replace(".", r"\.")):
        create.execute(context)

    assert time.monotonic() - start < 10
