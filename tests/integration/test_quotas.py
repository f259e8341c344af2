"""Per-user quotas against a live emulator: the use is read from real clusters and their labels."""

from __future__ import annotations

import pytest

from airflow_dask_provider.exceptions import QuotaExceededError
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator
from airflow_dask_provider.quotas import QuotaLimits, check_quota
from tests.fake_task_instance import fake_task_instance

WHERE = {"project_id": "itest-quotas", "region": "europe-west1"}
CLUSTER = "itest-quota-alice"


@pytest.fixture(scope="module")
def alices_cluster(emulator):
    """A cluster of alice's with 2 primary and 1 secondary worker, made by the create operator."""
    ti = fake_task_instance("create", "quotas")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_url)
        create = DaskDataprocCreateClusterOperator(
            task_id="create", cluster_name=CLUSTER, owner="Alice", num_workers=2, num_secondary_workers=1, **WHERE
        )
        yield create.execute({"ti": ti})
        DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=CLUSTER, **WHERE).execute({"ti": ti})


def test_the_cluster_is_labelled_with_its_owner(alices_cluster):
    assert alices_cluster["labels"]["owner"] == "alice"


def test_the_emulator_lists_only_the_owners_clusters(alices_cluster):
    hook = DaskDataprocHook()

    [owned] = hook.list_provider_clusters(**WHERE, labels={"owner": "alice"})

    assert (owned.cluster_name, owned.state, owned.secondary_workers) == (CLUSTER, "RUNNING", 1)
    assert hook.list_provider_clusters(**WHERE, labels={"owner": "bob"}) == []


def test_a_cluster_over_the_limit_is_refused_naming_the_cluster_that_counts(alices_cluster):
    with pytest.raises(QuotaExceededError) as raised:
        check_quota(DaskDataprocHook(), **WHERE, user="Alice", secondary_workers=0, limits=QuotaLimits(max_clusters=1))

    assert f"alice has 1: {CLUSTER} (RUNNING); this request needs 1 more." in str(raised.value)


def test_secondary_workers_over_the_limit_are_refused_with_their_use(alices_cluster):
    with pytest.raises(
        QuotaExceededError, match=rf"alice uses 1, on {CLUSTER} \(1\); this request asks for 3, 4 in all"
    ):
        check_quota(DaskDataprocHook(), **WHERE, user="alice", secondary_workers=3)


def test_another_user_and_the_same_cluster_again_fit_the_default_quotas(alices_cluster):
    check_quota(DaskDataprocHook(), **WHERE, user="bob", secondary_workers=3)
    check_quota(
        DaskDataprocHook(),
        **WHERE,
        user="alice",
        secondary_workers=1,
        cluster_name=CLUSTER,
        limits=QuotaLimits(max_clusters=1, max_secondary_workers=1),
    )
