"""Issue 4 acceptance: a create with no TTL, or a TTL above the configured ceiling, fails before any
API call: the emulator never hears of the cluster.
"""

from __future__ import annotations

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator

from .conftest import PROJECT, REGION, WHERE


@pytest.fixture
def provider_env(running, monkeypatch):
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", running.grpc_target)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", running.storage_url)
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_IDLE_DELETE_TTL", "1h")
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_AUTO_DELETE_TTL", "1d")


@pytest.mark.parametrize(
    "name, field, rendered",
    [
        ("no-idle-ttl", "idle_delete_ttl", None),
        ("idle-ttl-too-long", "idle_delete_ttl", "3h"),
        ("no-max-age", "auto_delete_ttl", None),
        ("max-age-too-long", "auto_delete_ttl", "2d"),
    ],
)
def test_the_create_fails_and_the_emulator_never_hears_of_the_cluster(
    running, clusters, provider_env, context, name, field, rendered
):
    operator = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name=name, project_id=PROJECT, region=REGION, **{field: "{{ params.ttl }}"}
    )
    setattr(operator, field, rendered)  # as the template rendered it
    log_before = running.log_file.read_text()

    with pytest.raises(ClusterSpecError) as info:
        operator.execute(context)

    assert (info.value.field, info.value.value) == (field, rendered)
    assert name not in [c.cluster_name for c in clusters.list_clusters(**WHERE)]
    assert name not in running.log_file.read_text()[len(log_before) :]  # no call named it


def test_a_literal_ttl_above_the_ceiling_fails_when_the_dag_is_parsed(provider_env):
    with pytest.raises(ClusterSpecError, match="must be at most 1h"):
        DaskDataprocCreateClusterOperator(
            task_id="create", cluster_name="parsed", project_id=PROJECT, region=REGION, idle_delete_ttl="2h"
        )
