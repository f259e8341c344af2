"""The reaper deletes the Dask credentials of clusters that Dataproc deleted by itself (their TTLs)."""

from __future__ import annotations

from airflow_dask_provider import defaults
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator
from airflow_dask_provider.operators.reaper import DaskDataprocReapClustersOperator

WHERE = {"project_id": "itest", "region": "europe-west1"}


def test_a_credential_left_by_a_cluster_deleted_behind_the_providers_back_is_swept(emulator, context, monkeypatch):
    def create(name: str) -> dict:
        operator = DaskDataprocCreateClusterOperator(task_id="create", cluster_name=name, num_workers=0, **WHERE)
        return operator.execute(context)

    gone, live = create("itest-ttl-deleted"), create("itest-still-live")
    # As Dataproc's idle-delete would: the cluster goes, nothing of the provider runs.
    emulator.cluster_client().delete_cluster(**WHERE, cluster_name="itest-ttl-deleted").result(timeout=120)
    monkeypatch.setattr(defaults, "CREDENTIAL_SWEEP_GRACE_SECONDS", 0)
    try:
        assert emulator.local_path(gone["tls_credential_uri"]).exists()

        reaper = DaskDataprocReapClustersOperator(
            task_id="reap", regions=WHERE["region"], project_ids=WHERE["project_id"]
        )
        reaper.execute(context)

        assert not emulator.local_path(gone["tls_credential_uri"]).exists()
        assert emulator.local_path(live["tls_credential_uri"]).exists()
    finally:
        DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name="itest-still-live", **WHERE).execute(context)
    assert not emulator.local_path(live["tls_credential_uri"]).exists()
