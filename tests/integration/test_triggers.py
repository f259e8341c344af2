"""The triggers against a live emulator: the deferred path of each operator, run in this process.

The operator defers; the trigger it hands over runs here as a triggerer would run it; the operator
resumes with the trigger's event.
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_dask_provider.exceptions import WaitTimeoutError
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from airflow_dask_provider.triggers import base as triggers
from tests.fake_task_instance import fake_task_instance

from ..recording_log import RecordingLog

WHERE = {"project_id": "itest", "region": "europe-west1"}
CLUSTER = "itest-deferred"


def run_deferred(operator, context, call):
    """Call ``call`` until the operator stops deferring; run each trigger to its event in between."""
    log = RecordingLog()
    while True:
        try:
            return call(), log
        except TaskDeferred as deferral:
            trigger = deferral.trigger

            async def first_event(trigger=trigger):
                return await anext(trigger.run())

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(triggers.DaskDataprocBaseTrigger, "log", property(lambda self: log))
                payload = asyncio.run(first_event()).payload
            method = getattr(operator, deferral.method_name)
            call = lambda method=method, payload=payload: method(context, payload)  # noqa: E731


@pytest.fixture
def context():
    return {"ti": fake_task_instance("t", "deferred"), "dag": SimpleNamespace(fileloc=__file__)}


@pytest.fixture(scope="module")
def deferred_cluster(emulator):
    context = {"ti": fake_task_instance("c", "m")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_url)
        create = DaskDataprocCreateClusterOperator(task_id="c", cluster_name=CLUSTER, deferrable=True, **WHERE)
        created, log = run_deferred(create, context, lambda: create.execute(context))
        yield created, log
        delete = DaskDataprocDeleteClusterOperator(task_id="d", cluster_name=CLUSTER, deferrable=True, **WHERE)
        result, _ = run_deferred(delete, context, lambda: delete.execute(context))
        assert result["deleted"] is True
        assert DaskDataprocHook().get_cluster_info(**WHERE, cluster_name=CLUSTER) is None


def submit(tmp_path, body: str, **kwargs) -> DaskDataprocSubmitJobOperator:
    main = tmp_path / "job.py"
    main.write_text(textwrap.dedent(body))
    job_id = f"deferred-{uuid.uuid4().hex[:8]}"  # each test its own job: one task instance attaches to its job
    return DaskDataprocSubmitJobOperator(
        task_id="t", cluster_name=CLUSTER, main=str(main), deferrable=True, job_id=job_id, **WHERE, **kwargs
    )


def test_deferred_create_waits_in_the_trigger_until_running(deferred_cluster):
    created, log = deferred_cluster

    assert created["state"] == "RUNNING"
    assert any("is CREATING; waiting for RUNNING" in line for line in log.lines)


def test_deferred_job_streams_driver_lines_and_progress_while_it_runs(deferred_cluster, context, tmp_path):
    operator = submit(
        tmp_path,
        """
        import time
        from distributed import Client
        client = Client()
        print("starting", flush=True)
        futures = client.map(lambda i: time.sleep(0.2) or i, range(40))
        print("sum", sum(client.gather(futures)), flush=True)
        """,
        progress_interval=0.5,
    )

    result, log = run_deferred(operator, context, lambda: operator.execute(context))

    assert result["state"] == "DONE"
    assert "[driver] starting" in log.lines and "[driver] sum 780" in log.lines
    agree = [line for line in log.lines if line.startswith("[driver] [dask-driver] ")]
    assert agree and "Driver, scheduler and 2 workers agree" in agree[0]  # the version check ran first
    assert log.lines.index("[driver] starting") < log.lines.index("[driver] sum 780")
    assert any(line.startswith("Dask progress: ") and "/40 tasks" in line for line in log.lines), log.lines


def test_deferred_job_past_its_timeout_is_cancelled(deferred_cluster, context, tmp_path):
    operator = submit(tmp_path, "import time\ntime.sleep(600)\n", timeout=4)

    with pytest.raises(WaitTimeoutError):
        run_deferred(operator, context, lambda: operator.execute(context))

    job_id = context["ti"].pushed["dataproc_job_url"].split("/jobs/")[1].split("?")[0]
    job = DaskDataprocHook().wait_for_dask_job(**WHERE, job_id=job_id, timeout=60)
    assert job.state == "CANCELLED"


def test_killing_the_task_of_a_deferred_job_cancels_it(deferred_cluster, context, tmp_path, monkeypatch):
    """Before Airflow 3.3 the trigger asks for the task's state; 'failed' means a user killed it."""
    monkeypatch.setattr(triggers, "AIRFLOW_V_3_3_PLUS", False)
    monkeypatch.setattr(triggers, "_task_state", lambda ti: "failed")
    operator = submit(tmp_path, "import time\ntime.sleep(600)\n")
    with pytest.raises(TaskDeferred) as deferral:
        operator.execute(context)
    trigger = deferral.value.trigger
    trigger.task_instance = SimpleNamespace(dag_id="itest", task_id="t", run_id="deferred", map_index=-1)

    async def cancel_after_a_poll():
        waiting = asyncio.create_task(anext(trigger.run()))
        await asyncio.sleep(2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(cancel_after_a_poll())

    job = DaskDataprocHook().wait_for_dask_job(**WHERE, job_id=trigger.job_id, timeout=60)
    assert job.state == "CANCELLED"
