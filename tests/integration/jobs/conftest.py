"""The job library on the emulator: one Dask cluster for the package, jobs submitted by the operator.

Inputs are written straight into the emulator's Cloud Storage folder, jobs read and write
``gs://`` URIs (the emulator hands them local paths), and each test compares a job's output with
the single-process reference of ``benchmarks/reference.py`` on the same data.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from airflow_dask_provider.bundled import job_script
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from tests.fake_task_instance import fake_task_instance

REPO = Path(__file__).resolve().parents[3]
WHERE = {"project_id": "itest", "region": "europe-west1"}
CLUSTER = "itest-job-library"
BUCKET = "itest-job-library"


def load_reference() -> ModuleType:
    """Import ``benchmarks/reference.py`` (the benchmarks folder is not a package)."""
    spec = importlib.util.spec_from_file_location("job_library_reference", REPO / "benchmarks" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    return load_reference()


def task_instance(task_id: str) -> SimpleNamespace:
    """A task instance of a run of its own: every submission gets a job id of its own."""
    return fake_task_instance(task_id, f"job-library-{uuid.uuid4().hex}", dag_id="itest_jobs")


@pytest.fixture(scope="package")
def job_cluster(emulator):
    """A two-worker cluster made by the create operator, deleted by the delete operator at the end."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_url)
        ti = task_instance("create")
        created = DaskDataprocCreateClusterOperator(
            task_id="create", cluster_name=CLUSTER, num_workers=2, **WHERE
        ).execute({"ti": ti})
        yield created
        DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})


@pytest.fixture
def gcs(emulator) -> Callable[[str], Path]:
    """``gcs("input/x")``: the local path behind ``gs://BUCKET/input/x`` in the emulator."""
    return lambda name: emulator.local_path(f"gs://{BUCKET}/{name}")


def uri(name: str) -> str:
    return f"gs://{BUCKET}/{name}"


@pytest.fixture
def submit(job_cluster, emulator, tmp_path) -> Callable[..., dict[str, Any]]:
    """``submit(script, *args)``: run a bundled job on the cluster with the operator; return its summary.

    ``py_files`` names the bundled scripts submitted beside it (``()``: none, the operator adds those it imports).
    """

    def run(script: str, *args: str, py_files: Sequence[str] = ("dask_job.py",)) -> dict[str, Any]:
        task_id = Path(script).stem
        operator = DaskDataprocSubmitJobOperator(
            task_id=task_id,
            cluster_name=CLUSTER,
            main=job_script(script),
            py_files=[job_script(name) for name in py_files],
            args=list(args),
            **WHERE,
        )
        context = {"ti": task_instance(task_id), "dag": SimpleNamespace(fileloc=str(tmp_path / "dag.py"))}
        result = operator.execute(context)
        output, _ = DaskDataprocHook().read_driver_output(driver_output_uri=result["driver_output_uri"])
        summaries = [json.loads(line) for line in output.splitlines() if line.startswith('{"job"')]
        assert len(summaries) == 1, output[-3000:]
        return summaries[0]

    return run
