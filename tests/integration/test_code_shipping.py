"""A job's ``py_files`` on the scheduler's and workers' import path for the job's length, on the emulator."""

from __future__ import annotations

import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from airflow_dask_provider.exceptions import JobError
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from tests.fake_task_instance import fake_task_instance
from tests.integration.conftest import dask_client

WHERE = {"project_id": "itest", "region": "europe-west1"}
CLUSTER = "itest-code-shipping"
#: Names no process of the test session imports: only a job's py_files provide them.
HELPER = "shiplib"
PACKAGE = "shipshapes"


@pytest.fixture(scope="module")
def cluster(emulator):
    """A two-worker cluster created by the create operator, deleted by the delete operator at the end."""
    ti = fake_task_instance("create", "shipping")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_url)
        created = DaskDataprocCreateClusterOperator(task_id="create", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})
        yield created
        DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})


def write(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def submit(main: str, **kwargs) -> DaskDataprocSubmitJobOperator:
    return DaskDataprocSubmitJobOperator(task_id="task", cluster_name=CLUSTER, main=main, **WHERE, **kwargs)


def driver_output(result: dict) -> str:
    return DaskDataprocHook().read_driver_output(driver_output_uri=result["driver_output_uri"])[0]


def importable_on_cluster(created: dict, *modules: str) -> dict[str, bool]:
    """Return, for the scheduler and each worker, whether any of ``modules`` is imported or importable there."""

    def importable(names):  # nested: pickled by value
        import importlib.util
        import sys

        return any(name in sys.modules or importlib.util.find_spec(name) is not None for name in names)

    with dask_client(created) as client:
        return {**client.run(importable, modules), "scheduler": client.run_on_scheduler(importable, modules)}


def test_a_helper_in_py_files_is_mapped_across_the_workers_and_gone_after_the_job(cluster, context, tmp_path):
    helper = write(
        tmp_path,
        f"{HELPER}.py",
        """
        def square(x):
            return x * x

        def where(_):
            from distributed import get_worker

            return get_worker().address
        """,
    )
    with zipfile.ZipFile(tmp_path / f"{PACKAGE}.zip", "w") as archive:
        archive.writestr(f"{PACKAGE}/__init__.py", "")
        archive.writestr(f"{PACKAGE}/area.py", "def rectangle(sides):\n    return sides[0] * sides[1]\n")
    main = write(
        tmp_path,
        "job.py",
        f"""
        from distributed import Client

        import {HELPER}
        from {PACKAGE} import area

        with Client() as client:
            workers = sorted(client.nthreads())
            print("squares", sum(client.gather(client.map({HELPER}.square, range(20)))))
            print("areas", sum(client.gather(client.map(area.rectangle, [(1, 2), (3, 4), (5, 6)]))))
            places = [client.submit({HELPER}.where, i, workers=[w], pure=False) for i, w in enumerate(workers)]
            print("ran on", len(set(client.gather(places))), "of", len(workers), "workers")
        """,
    )

    result = submit(main, py_files=[helper, str(tmp_path / f"{PACKAGE}.zip")]).execute(context)

    output = driver_output(result)
    assert result["state"] == "DONE", output
    assert "squares 2470" in output and "areas 44" in output
    assert "ran on 2 of 2 workers" in output
    after = importable_on_cluster(cluster, HELPER, PACKAGE)
    assert len(after) == 3  # the scheduler and the two workers
    assert not any(after.values()), after


class MidJob(threading.Thread):
    """Once the operator's job has printed ``line``, call ``action(job_id)`` and keep what it returns.

    The test executes the operator on its own (main) thread meanwhile, as Airflow does, and sets
    ``ended`` when the operator returned or raised: the thread then stops waiting. What the thread
    raised is kept for the test.
    """

    def __init__(self, operator: DaskDataprocSubmitJobOperator, line: str, action: Callable[[str], Any]) -> None:
        super().__init__(daemon=True)
        self.operator = operator
        self.line = line
        self.action = action
        self.ended = threading.Event()
        self.acted = False
        self.returned: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 120
            while not started(self.operator, self.line):
                if self.ended.wait(0.5):
                    return  # the operator ended before its job printed the line: the test says so
                assert time.monotonic() < deadline, "the job did not start"
            self.returned = self.action(self.operator._job.job_id)
            self.acted = True
        except BaseException as err:  # reported by the test
            self.error = err


@contextmanager
def mid_job(operator: DaskDataprocSubmitJobOperator, line: str, action: Callable[[str], Any]) -> Iterator[MidJob]:
    """Call ``action(job_id)`` from a background thread once the operator's job has printed ``line``, while the
    block executes the operator; after the block, raise what the thread raised, or fail if it did not act."""
    thread = MidJob(operator, line, action)
    thread.start()
    try:
        yield thread
    finally:
        thread.ended.set()
        thread.join(timeout=120)
        if thread.error is not None:
            raise thread.error
    assert thread.acted, f"the operator ended before its job printed {line!r}"


def started(operator: DaskDataprocSubmitJobOperator, line: str) -> bool:
    """Whether the operator's job has printed ``line``."""
    return operator._job is not None and line in driver_output(operator._job.as_dict())


def test_a_worker_that_joins_mid_job_imports_the_helper_of_this_job(cluster, context, tmp_path):
    """The helper of the test before has the same name: a module of it left on a worker would lack ``version``."""
    helper = write(tmp_path, f"{HELPER}.py", "VERSION = 2\n\ndef version(_):\n    return VERSION\n")
    main = write(
        tmp_path,
        "job.py",
        f"""
        from distributed import Client

        import {HELPER}

        with Client() as client:
            first = set(client.nthreads())
            now = client.submit({HELPER}.version, 0, pure=False).result()
            print("version", now, "on", len(first), "workers", flush=True)
            client.wait_for_workers(len(first) + 1, timeout=240)
            joined = sorted(set(client.nthreads()) - first)
            print("joined", len(joined), "version", client.submit({HELPER}.version, 1, workers=joined).result())
        """,
    )
    scaling = DaskDataprocHook()
    operator = submit(main, py_files=[helper])

    def add_a_worker(job_id: str) -> None:
        scaling.resize_secondary_workers(
            **WHERE, cluster_name=CLUSTER, num_instances=1, graceful_decommission_timeout=0
        )

    with mid_job(operator, "version 2 on 2 workers", add_a_worker):
        result = operator.execute(context)

    output = driver_output(result)
    assert "joined 1 version 2" in output, output
    after = importable_on_cluster(cluster, HELPER)
    assert len(after) == 4  # the scheduler, two primary workers and the one that joined
    assert not any(after.values()), after


def test_a_cancelled_job_takes_its_helper_off_the_workers(cluster, context, tmp_path):
    helper = write(tmp_path, f"{HELPER}.py", "def double(x):\n    return 2 * x\n")
    main = write(
        tmp_path,
        "job.py",
        f"""
        import time

        from distributed import Client

        import {HELPER}

        with Client() as client:
            print("doubled", sum(client.gather(client.map({HELPER}.double, range(4)))), flush=True)
            time.sleep(600)
        """,
    )
    operator = submit(main, py_files=[helper])

    def look_and_cancel(job_id: str) -> dict[str, bool]:
        try:
            return importable_on_cluster(cluster, HELPER)
        finally:
            DaskDataprocHook().cancel_dask_job(**WHERE, job_id=job_id)

    with mid_job(operator, "doubled 12", look_and_cancel) as during, pytest.raises(JobError) as caught:
        operator.execute(context)

    assert during.returned["scheduler"]
    assert caught.value.state == "CANCELLED"
    after = importable_on_cluster(cluster, HELPER)
    assert not any(after.values()), after
