"""The Dask-aware scaler against a live emulator: real UpdateCluster calls, real Dask workers retired."""

from __future__ import annotations

import logging
import time

import pytest

from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators.cluster import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator
from airflow_dask_provider.scaling.rule import GROW, SHRINK, ScalingConfig
from airflow_dask_provider.scaling.scaler import DaskSecondaryScaler
from tests.fake_task_instance import fake_task_instance
from tests.integration.conftest import dask_client

WHERE = {"project_id": "itest", "region": "europe-west1"}
CLUSTER = "itest-scaler"
PRIMARY = [f"{CLUSTER}-w-0", f"{CLUSTER}-w-1"]


@pytest.fixture(scope="module")
def cluster(emulator):
    ti = fake_task_instance("t", "scaler")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_url)
        yield DaskDataprocCreateClusterOperator(task_id="c", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})
        DaskDataprocDeleteClusterOperator(task_id="d", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})


@pytest.fixture
def scaling(cluster):
    hook = DaskDataprocHook()
    yield hook
    hook.dask_scheduler.close()


def scaler(scaling, **config) -> DaskSecondaryScaler:
    values = {"max_secondary_workers": 3, "wait_count": 2, "cooldown_period": 0, "scale_down_delay": 1}
    return DaskSecondaryScaler(
        scaling_hook=scaling,
        **WHERE,
        cluster_name=CLUSTER,
        config=ScalingConfig(**{**values, **config}),
        graceful_decommission_timeout=60,
        target_duration=1,
    )


def step_until(scaler: DaskSecondaryScaler, done, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        decision = scaler.step()
        if done(decision):
            return decision
        time.sleep(0.5)
    raise AssertionError(f"not reached in {timeout} s: {[str(d) for d in scaler.decisions[-5:]]}")


def worker_names(client) -> set[str]:
    return {str(w["name"]) for w in client.scheduler_info(n_workers=-1)["workers"].values()}


def settled_groups(scaling):
    def ready():
        groups = scaling.get_worker_groups(**WHERE, cluster_name=CLUSTER)
        return groups if groups.state == "RUNNING" and groups.secondary_target == len(groups.secondary) else None

    deadline = time.monotonic() + 90
    while not (groups := ready()):
        assert time.monotonic() < deadline, "the cluster did not settle"
        time.sleep(0.3)
    return groups


def test_grows_under_load_and_removing_workers_mid_job_loses_no_result(cluster, scaling, caplog):
    def slow_square(x: int, seconds: float) -> int:  # nested: pickled by value, workers cannot import tests
        import time

        time.sleep(seconds)
        return x * x

    up = scaler(scaling)
    with dask_client(cluster) as client:
        first = client.map(slow_square, range(60), seconds=0.3, pure=False)

        grown = step_until(up, lambda d: d.current >= 2)  # the resize has ended with 2 or more
        groups = settled_groups(scaling)
        assert GROW in {d.action for d in up.decisions}
        assert worker_names(client) == set(groups.primary) | set(groups.secondary)
        assert len(groups.secondary) == grown.current

        # Data that cannot be recomputed, on the secondary workers only.
        on_secondary = [
            a for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if w["name"] in groups.secondary
        ]
        scattered = client.scatter(list(range(100)), workers=on_secondary)
        assert client.gather(first) == [x * x for x in range(60)]
        # A second phase is running when the bounds shrink to none: the scaler retires every
        # secondary worker at once, mid-job.
        second = client.map(slow_square, range(40), seconds=0.2, pure=False)
        down = scaler(scaling, max_secondary_workers=0)
        with caplog.at_level(logging.WARNING, logger="airflow_dask_provider.scaling.scaler"):
            shrunk = down.step()
            after = settled_groups(scaling)
            down.step()  # compares what was removed with what was retired

        assert (shrunk.action, shrunk.target) == (SHRINK, 0)
        assert after.secondary == ()
        assert worker_names(client) == set(PRIMARY)
        assert client.gather(second) == [x * x for x in range(40)]
        assert client.gather(first) == [x * x for x in range(60)]
        assert client.gather(scattered) == list(range(100))
        assert "Dataproc removed nodes" not in caplog.text
