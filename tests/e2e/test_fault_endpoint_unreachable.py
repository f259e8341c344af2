"""Issue 20 acceptance: the Dataproc endpoint goes away while a task waits for a running job.

The emulator is killed (SIGKILL: gone at once; SIGTERM: it deletes its clusters, then exits) while
``submit`` waits in its worker slot. With the default ``[dask_dataproc] api_unreachable_timeout``
(60 s; teardown 75 s), ``submit`` fails within 90 s naming the endpoint, the ``delete`` teardown
ends within 90 s, every retry is in the log, and no Dask process is left.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from dask_dataproc_emulator.processes import tail
from dask_dataproc_emulator.testing import dask_processes, run_emulator
from tests.devtools import DagTestProcess

from .conftest import REPO, environment

DAGS = REPO / "tests" / "e2e" / "dags"
DAG_ID = "dask_unreachable_emulator"
WHERE = {"project_id": "local-project", "region": "europe-west1"}
#: Log lines of ``airflow dags test`` (Airflow 2 and 3) whose first appearance the test times.
MARKS = {
    "submit_ended": "[DAG TEST] end task task_id=submit",
    "delete_started": "[DAG TEST] starting task_id=delete",
    "delete_ended": "[DAG TEST] end task task_id=delete",
}
#: What the log shows when a task gives up on the endpoint.
GAVE_UP = re.compile(r"EndpointUnreachableError: The endpoint (\S+) did not answer (\w+)")


def running_job(emulator):
    try:
        jobs = list(emulator.job_client().list_jobs(**WHERE))
    except Exception:
        return None
    return next((job for job in jobs if job.status.state.name == "RUNNING"), None)


@pytest.fixture(scope="module", params=["SIGKILL", "SIGTERM"])
def broken_run(request, airflow_home, tmp_path_factory):
    """Run the DAG, kill the emulator with the signal once the job RUNS, time what follows."""
    signum = getattr(signal, request.param)
    log_path = tmp_path_factory.mktemp("unreachable") / "dags-test.log"
    marks: dict[str, float] = {}
    with run_emulator(tmp_path_factory.mktemp("emulator")) as emulator:
        env = environment(airflow_home, emulator, DAGS)
        airflow = DagTestProcess(DAG_ID, env=env, log_path=log_path)
        try:
            deadline = time.monotonic() + 600
            while running_job(emulator) is None:
                assert airflow.running(), f"Airflow ended before the job ran:\n{tail(log_path, 40)}"
                assert time.monotonic() < deadline, f"the job never ran:\n{tail(log_path, 40)}"
                time.sleep(0.5)
            marks["killed"] = time.monotonic()
            os.kill(emulator.pid, signum)
            emulator.process.wait(timeout=60)
            while airflow.running():
                text = airflow.output()
                for mark, line in MARKS.items():
                    if mark not in marks and line in text:
                        marks[mark] = time.monotonic()
                assert time.monotonic() - marks["killed"] < 400, f"Airflow still runs:\n{tail(log_path, 40)}"
                time.sleep(0.2)
            marks["airflow_ended"] = time.monotonic()
        finally:
            airflow.kill()
        outlived = dask_processes(parent=emulator.pid, wait=15)
        for process in outlived:  # a SIGKILLed emulator cannot stop its children: the test does
            os.kill(process.pid, signal.SIGKILL)
        left = dask_processes(parent=emulator.pid, wait=15)
    return {
        "signal": request.param,
        "endpoint": emulator.grpc_target,
        "log": airflow.output(),
        "marks": marks,
        "outlived": outlived,
        "left": left,
    }


def test_the_submit_task_fails_within_90_s_naming_the_endpoint(broken_run):
    log, marks = broken_run["log"], broken_run["marks"]
    # Airflow 2's `dags test` prints no end line for a failed task; the teardown starts only once submit
    # has ended, so its start bounds submit's end from above.
    submit_ended = marks.get("submit_ended", marks.get("delete_started", marks["airflow_ended"]))
    print(f"{broken_run['signal']}: submit ended {submit_ended - marks['killed']:.1f} s after the kill")

    assert submit_ended - marks["killed"] < 90, log[-5000:]
    given_up = {(endpoint, call) for endpoint, call in GAVE_UP.findall(log)}
    if broken_run["signal"] == "SIGKILL":  # SIGTERM may end the job (CANCELLED) before the endpoint goes
        assert (broken_run["endpoint"], "get_job") in given_up, log[-5000:]


def test_the_teardown_ends_within_90_s_and_says_why(broken_run):
    log, marks = broken_run["log"], broken_run["marks"]
    teardown = marks.get("delete_ended", marks["airflow_ended"]) - marks.get("delete_started", marks["killed"])
    print(f"{broken_run['signal']}: the teardown and the run's end took {teardown:.1f} s")

    assert teardown < 90, log[-5000:]
    assert any(endpoint == broken_run["endpoint"] for endpoint, _ in GAVE_UP.findall(log)), log[-5000:]
    # The teardown's first call: it lists the cluster's jobs (another run's would keep it), then deletes.
    assert re.search(
        rf"(list_jobs|get_cluster|delete_cluster) to {re.escape(broken_run['endpoint'])} failed \(attempt 1;", log
    )


def test_every_retry_is_logged(broken_run):
    attempts = re.findall(rf"\w+ to {re.escape(broken_run['endpoint'])} failed \(attempt (\d+);", broken_run["log"])

    assert len(attempts) >= 5 and "2" in attempts


def test_no_dask_process_is_left(broken_run):
    print(f"{broken_run['signal']}: processes that outlived the emulator (then killed): {broken_run['outlived']}")

    assert broken_run["left"] == []
