"""A job's ``py_files`` on the scheduler's and workers' import path for the job's length, on the emulator."""

from __future__ import annotations

import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_dask_provider.exceptions import JobError
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from tests.conftest import AIRFLOW_2
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


def executing(pool, context, main: str, **kwargs):
    """Make and execute the submit operator in ``pool``'s thread, so the test can act while the job runs;
    return the future and a list that holds the operator once it is made."""
    operators = []

    def execute():
        if AIRFLOW_2:  # its ExecutorSafeguard keeps its callers in a thread-local made only in the importing thread
            from airflow.models.baseoperator import ExecutorSafeguard

            if not hasattr(ExecutorSafeguard._sentinel, "callers"):
                ExecutorSafeguard._sentinel.callers = {}
        operators.append(submit(main, **kwargs))
        return operators[0].execute(context)

    return pool.submit(execute), operators


def started(operators, line: str) -> bool:
    """Whether the operator's job has printed ``line``."""
    return bool(operators) and operators[0]._job is not None and line in driver_output(operators[0]._job.as_dict())


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

    with ThreadPoolExecutor(1) as pool:
        running, operators = executing(pool, context, main, py_files=[helper])
        deadline = time.monotonic() + 120
        while not started(operators, "version 2 on 2 workers"):
            assert not running.done(), running.result()
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.5)
        scaling.resize_secondary_workers(
            **WHERE, cluster_name=CLUSTER, num_instances=1, graceful_decommission_timeout=0
        )
        result = running.result(timeout=300)

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
    with ThreadPoolExecutor(1) as pool:
        running, operators = executing(pool, context, main, py_files=[helper])
        deadline = time.monotonic() + 120
        while not started(operators, "doubled 12"):
            assert not running.done(), running.result()
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.5)
        assert importable_on_cluster(cluster, HELPER)["scheduler"]
        DaskDataprocHook().cancel_dask_job(**WHERE, job_id=operators[0]._job.job_id)
        with pytest.raises(JobError) as caught:
            running.result(timeout=120)

    assert caught.value.state == "CANCELLED"
    after = importable_on_cluster(cluster, HELPER)
    assert not any(after.values()), after
