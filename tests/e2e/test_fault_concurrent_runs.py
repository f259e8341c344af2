"""Issue 20 acceptance: two runs of one DAG at once, on the emulator, with real Airflow.

With the same literal cluster name, the second run fails at create, naming the run that owns the
cluster, and the first run's long job ends DONE on it; with ``share_cluster=True`` the second run
uses the cluster and its teardown leaves it to the first run's job; with the name left to the
provider both runs succeed on clusters of their own. Each scenario ends with no cluster, and the
module with no Dask process.

The runs overlap: each has an Airflow home of its own (SQLite has one writer) and a logical date of
its own (its run id). The first run's job holds the cluster until the test writes a file.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from dask_dataproc_emulator.testing import dask_processes, run_emulator
from tests.devtools import DagTestProcess, DagTestRun, airflow_environment, migrate_db

from .conftest import REPO

WHERE = {"project_id": "local-project", "region": "europe-west1"}
DAGS = REPO / "tests" / "e2e" / "dags"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with run_emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running
    assert dask_processes(parent=running.pid, wait=30) == [], "Dask processes were left behind"


@pytest.fixture(scope="module")
def homes(emulator, tmp_path_factory):
    """Two Airflow environments on the one emulator, as two runs of one deployment see it."""
    envs = []
    for name in ("first", "second"):
        env = airflow_environment(
            airflow_home=tmp_path_factory.mktemp(f"airflow-{name}"),
            dags_folder=DAGS,
            emulator_host=emulator.grpc_target,
            storage_url=emulator.storage_url,
        )
        migrate_db(env)
        envs.append(env)
    return envs


def start(env, tmp_path, name: str, dag_id: str, date: str, **conf) -> DagTestProcess:
    return DagTestProcess(dag_id, env=env, log_path=tmp_path / f"{name}.log", conf=conf, logical_date=date)


def first_run_id(env) -> str:
    """The newest run of the first environment, as its cluster's label holds it."""
    from airflow_dask_provider.labels import label_value

    with closing(sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")) as db:
        return label_value(db.execute("SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1").fetchone()[0])


def clusters(emulator) -> dict[str, str]:
    return {c.cluster_name: c.status.state.name for c in emulator.cluster_client().list_clusters(**WHERE)}


def running_jobs(emulator) -> list:
    return [job for job in emulator.job_client().list_jobs(**WHERE) if job.status.state.name == "RUNNING"]


def wait_until(condition, what: str, run: DagTestProcess, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert run.running(), f"the first run ended before {what}:\n{run.output()[-4000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{run.output()[-4000:]}"
        time.sleep(0.5)


class Overlap(NamedTuple):
    """What a test of two overlapping runs checks while the first run's job still holds its cluster."""

    #: The second run, ended.
    second: DagTestRun
    #: The clusters and their states once the first run's job ran (before the second run started).
    held: dict[str, str]


@contextmanager
def overlapping(emulator, homes, tmp_path, dag_id: str, dates: tuple[str, str], **conf) -> Iterator[Overlap]:
    """Run ``dag_id`` twice at once, with ``conf`` for both: a first run whose job holds its cluster until
    released, and, once that job runs, a second run from start to end (its job takes a second).

    The block runs while the first run's job still runs; then the first run is released and must
    succeed and leave no cluster behind. The first run is killed if the block fails.
    """
    release = tmp_path / "release"
    first = start(homes[0], tmp_path, "first", dag_id, dates[0], **conf, release_file=str(release))
    try:
        wait_until(lambda: running_jobs(emulator), "the first run's job to run", first)
        held = clusters(emulator)
        second = start(homes[1], tmp_path, "second", dag_id, dates[1], **conf, seconds=1).wait()
        yield Overlap(second, held)
        release.touch()
        done = first.wait()
    finally:
        first.kill()

    assert done.succeeded, done.states
    assert clusters(emulator) == {}


def test_a_second_run_naming_the_same_cluster_fails_at_create_and_loses_nothing(emulator, homes, tmp_path):
    with overlapping(
        emulator, homes, tmp_path, "concurrent_runs", ("2026-01-01", "2026-01-02"), cluster_name="dask-same"
    ) as (second, _):
        assert second.states["create"] == "failed"
        assert second.states["hold"] == "upstream_failed"
        owner = re.search(
            r"Cluster dask-same is in state RUNNING: it belongs to run (\S+) of DAG concurrent_runs "
            r"\(task create, owner \w+\), not to this run",
            second.output,
        )
        assert owner, second.output[-3000:]
        assert owner[1] == first_run_id(homes[0])
        assert clusters(emulator) == {"dask-same": "RUNNING"}  # the second run touched nothing
        assert len(running_jobs(emulator)) == 1


def test_a_shared_cluster_is_left_by_the_run_that_finishes_first(emulator, homes, tmp_path):
    with overlapping(
        emulator, homes, tmp_path, "concurrent_runs_shared", ("2026-02-01", "2026-02-02"), cluster_name="dask-shared"
    ) as (second, _):
        assert second.succeeded, second.states
        assert (
            f"Cluster dask-shared belongs to run {first_run_id(homes[0])} of DAG concurrent_runs_shared"
            in second.output
        )
        assert "sharing it (share_cluster=True)" in second.output
        assert "Leaving cluster dask-shared: jobs of other runs are pending or running on it" in second.output
        assert clusters(emulator) == {"dask-shared": "RUNNING"}
        [job] = running_jobs(emulator)

    first_job = emulator.job_client().get_job(**WHERE, job_id=job.reference.job_id)
    assert first_job.status.state.name == "DONE"


def test_runs_that_leave_the_name_to_the_provider_succeed_on_clusters_of_their_own(emulator, homes, tmp_path):
    with overlapping(emulator, homes, tmp_path, "concurrent_runs", ("2026-03-01", "2026-03-02")) as (second, held):
        [first_cluster] = held
        assert second.succeeded, second.states
        assert clusters(emulator) == {first_cluster: "RUNNING"}  # the second run's own cluster is gone

    [second_cluster] = set(re.findall(r"Creating Dask cluster (\S+) in", second.output))
    assert first_cluster.startswith("dask-concurrent-runs-")
    assert second_cluster.startswith("dask-concurrent-runs-")
    assert second_cluster != first_cluster
