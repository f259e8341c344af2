"""The emulator as a process: start-up line, shutdown on signals, and nothing left behind."""

from __future__ import annotations

import os
import signal
import time

import pytest
from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import dask_processes, run_emulator

from .conftest import PROJECT, REGION, SINGLE_NODE, WHERE, write_script


def start_single_node(emulator, name: str = "doomed") -> dataproc_v1.Cluster:
    operation = emulator.cluster_client().create_cluster(
        project_id=PROJECT, region=REGION, cluster={"cluster_name": name, "config": SINGLE_NODE}
    )
    return operation.result(timeout=180)


def run_sleeping_job(emulator, tmp_path, cluster: str = "doomed") -> None:
    """Submit a job that sleeps, and return once its driver runs."""
    ready = tmp_path / "ready"
    script = write_script(tmp_path, f"import time\nopen({str(ready)!r}, 'w').close()\ntime.sleep(600)\n")
    emulator.job_client().submit_job(
        **WHERE, job={"placement": {"cluster_name": cluster}, "pyspark_job": {"main_python_file_uri": str(script)}}
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_startup_line_names_both_servers_and_the_data_dir(running):
    line = running.log_file.read_text().splitlines()[0]

    assert line == (
        f"dask-dataproc-emulator listening on {running.grpc_target} storage {running.storage_url} "
        f"data-dir {running.data_dir}"
    )


def test_sigterm_stops_every_process_removes_the_discovery_file_and_exits_zero(tmp_path):
    with run_emulator(tmp_path / "data") as emulator:
        start_single_node(emulator)
        run_sleeping_job(emulator, tmp_path)
        children = dask_processes(parent=emulator.pid)

        os.kill(emulator.pid, signal.SIGTERM)

        assert emulator.process.wait(timeout=60) == 0
    assert len(children) == 3  # scheduler, worker, job driver
    assert dask_processes(parent=emulator.pid) == []
    assert not (emulator.data_dir / "emulator.json").exists()


def test_sigkill_of_the_emulator_leaves_no_dask_process(tmp_path):
    with run_emulator(tmp_path / "data") as emulator:
        start_single_node(emulator)
        run_sleeping_job(emulator, tmp_path)
        assert len(dask_processes(parent=emulator.pid)) == 3

        os.kill(emulator.pid, signal.SIGKILL)
        emulator.process.wait(timeout=10)

        assert dask_processes(parent=emulator.pid, wait=30) == []


def test_cluster_that_cannot_start_in_time_is_error_with_a_failed_operation(tmp_path):
    # A millisecond: no scheduler process can start Python, import distributed and write its scheduler file
    # that fast, however fast the machine. (Half a second was once enough on CI's machine.)
    with run_emulator(tmp_path / "data", extra_args=["--start-timeout", "0.001"]) as emulator:
        clusters = emulator.cluster_client()
        operation = clusters.create_cluster(
            project_id=PROJECT, region=REGION, cluster={"cluster_name": "slow", "config": SINGLE_NODE}
        )

        with pytest.raises(GoogleAPICallError, match="in time"):
            operation.result(timeout=60)
        cluster = clusters.get_cluster(**WHERE, cluster_name="slow")
        assert cluster.status.state == dataproc_v1.ClusterStatus.State.ERROR
        assert "in time" in cluster.status.detail
        assert dask_processes(parent=emulator.pid, wait=10) == []
