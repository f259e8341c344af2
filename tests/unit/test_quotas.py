"""Per-user quotas: limits from the configuration, who the user is, what counts, and the refusal."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from google.cloud import dataproc_v1

from airflow_dask_provider.exceptions import ClusterSpecError, QuotaExceededError
from airflow_dask_provider.hooks.clusters import ClusterCalls
from airflow_dask_provider.hooks.resources import LabelledCluster
from airflow_dask_provider.quotas import (
    QuotaLimits,
    check_quota,
    enforce,
    owner_label,
    pick_trigger_entry,
    requesting_user,
)
from tests.fake_task_instance import fake_task_instance

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


OWNER_FILTER = "labels.owner = {} AND labels.created-by = airflow-dask-provider"


def cluster(name: str, state: str = "RUNNING", secondary: int = 0) -> LabelledCluster:
    return LabelledCluster(
        project_id="p",
        region="r",
        cluster_name=name,
        cluster_uuid="",
        state=state,
        detail="",
        expiry=None,
        labels={},
        secondary_workers=secondary,
    )


def listing_hook(mocker, *clusters: dataproc_v1.Cluster):
    """A mock hook whose cluster listing is the hook's own, over a mocked cluster client that lists ``clusters``."""
    hook = mocker.MagicMock()
    for name in ("list_clusters", "list_provider_clusters"):
        getattr(hook, name).side_effect = functools.partial(getattr(ClusterCalls, name), hook)
    hook.get_cluster_client.return_value.list_clusters.return_value = list(clusters)
    return hook


def listed_filter(hook) -> str:
    return hook.get_cluster_client.return_value.list_clusters.call_args.kwargs["request"]["filter"]


# -- limits -----------------------------------------------------------------------------------------


def test_the_limits_default_to_three_clusters_and_three_secondary_workers():
    assert QuotaLimits.from_config() == QuotaLimits(max_clusters=3, max_secondary_workers=3)


def test_the_limits_come_from_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER", "5")
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_SECONDARY_WORKERS_PER_USER", "")

    assert QuotaLimits.from_config() == QuotaLimits(max_clusters=5, max_secondary_workers=None)


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_a_bad_limit_names_the_option_and_the_value(monkeypatch, value):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER", value)

    with pytest.raises(ClusterSpecError, match=rf"\[dask_dataproc\] max_clusters_per_user='{value}'.*whole number"):
        QuotaLimits.from_config()


# -- the user -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "label"),
    [
        ("alice", "alice"),
        ("Alice.Smith@corp.com", "alice-smith-corp-com"),
        ("alice-smith-corp-com", "alice-smith-corp-com"),
    ],
)
def test_the_owner_label_is_the_user_sanitised(user, label):
    assert owner_label(user) == label


def test_a_user_name_without_label_characters_still_gets_a_label_of_its_own():
    first, second = owner_label("李雷"), owner_label("韩梅梅")

    assert first.startswith("user-") and second.startswith("user-") and first != second
    assert owner_label(first) == first


def airflow3_context(user: str | None, owner: str = "data-platform") -> dict:
    return {"dag_run": SimpleNamespace(triggering_user_name=user), "task": SimpleNamespace(owner=owner)}


def test_on_airflow_3_the_user_is_who_triggered_the_run():
    assert requesting_user(airflow3_context("alice")) == "alice"


@pytest.mark.parametrize("user", [None, "", "anonymous"])
def test_a_run_nobody_triggered_belongs_to_the_dag_owner(user):
    assert requesting_user(airflow3_context(user)) == "data-platform"
    assert requesting_user(airflow3_context(user), fallback="ops") == "ops"


def test_a_scheduled_airflow_2_run_belongs_to_the_dag_owner_without_reading_the_log():
    dag_run = SimpleNamespace(run_type="scheduled", queued_at=T0, run_id="scheduled__x", dag_id="d")

    assert requesting_user({"dag_run": dag_run, "task": SimpleNamespace(owner="data-platform")}) == "data-platform"


def test_the_audit_log_entry_naming_the_run_wins():
    entries = [("bob", None, T0), ("alice", "manual__1", T0 - timedelta(seconds=1)), ("carol", "manual__2", T0)]

    assert pick_trigger_entry(entries, run_id="manual__1") == "alice"


def test_without_one_the_newest_entry_naming_no_run_wins():
    entries = [("bob", None, T0 - timedelta(seconds=30)), ("carol", None, T0), ("dave", "manual__2", T0)]

    assert pick_trigger_entry(entries, run_id="manual__1") == "carol"


def test_anonymous_entries_name_nobody():
    assert pick_trigger_entry([("anonymous", None, T0), ("", None, T0)], run_id="r") is None


def test_the_create_operator_labels_and_checks_the_requesting_user(mocker):
    from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator

    hook = listing_hook(mocker, *(dataproc_cluster(f"c{n}", "RUNNING", 0) for n in range(3)))
    hook.get_cluster_info.return_value = None
    mocker.patch.object(DaskDataprocCreateClusterOperator, "hook", new_callable=mocker.PropertyMock, return_value=hook)
    operator = DaskDataprocCreateClusterOperator(
        task_id="create",
        cluster_name="mine",
        owner="data-platform",
        project_id="p",
        region="r",
        stage_init_actions=False,
    )
    ti = fake_task_instance("create", "r", dag_id="d")
    context = {"ti": ti, "dag_run": SimpleNamespace(triggering_user_name="Alice.Smith"), "task": operator}

    with pytest.raises(QuotaExceededError, match="alice-smith has 3"):
        operator.execute(context)

    hook.get_cluster_client.return_value.list_clusters.assert_called_once()
    assert "labels.owner = alice-smith" in listed_filter(hook)
    hook.create_dask_cluster.assert_not_called()


# -- what counts and the refusal -----------------------------------------------------------------------


def test_a_request_within_both_quotas_passes():
    enforce(QuotaLimits(), user="alice", clusters=[cluster("a", secondary=1), cluster("b")], secondary_workers=2)


def test_the_cluster_quota_names_the_limit_the_use_and_the_clusters_that_count():
    clusters = [cluster("a"), cluster("b", "CREATING"), cluster("c", "UPDATING")]

    with pytest.raises(QuotaExceededError) as raised:
        enforce(QuotaLimits(), user="Alice", clusters=clusters, secondary_workers=0)

    message = str(raised.value)
    assert raised.value.user == "alice"
    assert "Quota exceeded for user alice" in message
    assert "At most 3 live Dask clusters per user ([dask_dataproc] max_clusters_per_user)" in message
    assert "alice has 3: a (RUNNING), b (CREATING), c (UPDATING); this request needs 1 more." in message


def test_clusters_being_deleted_or_in_error_do_not_count():
    clusters = [cluster("a"), cluster("b"), cluster("gone", "DELETING"), cluster("broken", "ERROR", secondary=3)]

    enforce(QuotaLimits(), user="alice", clusters=clusters, secondary_workers=3)


def test_the_requested_cluster_itself_counts_as_reused_not_added():
    clusters = [cluster("a"), cluster("b"), cluster("mine", secondary=2)]

    enforce(QuotaLimits(), user="alice", clusters=clusters, secondary_workers=2, cluster_name="mine")


def test_the_secondary_worker_quota_adds_the_request_to_the_use():
    clusters = [cluster("a", secondary=2), cluster("b")]

    with pytest.raises(QuotaExceededError) as raised:
        enforce(QuotaLimits(), user="alice", clusters=clusters, secondary_workers=2)

    message = str(raised.value)
    assert (
        "At most 3 secondary (preemptible) workers per user ([dask_dataproc] max_secondary_workers_per_user)" in message
    )
    assert "alice uses 2, on a (2); this request asks for 2, 4 in all." in message
    assert "live Dask clusters" not in message


def test_a_request_without_secondary_workers_passes_that_quota_even_over_it():
    enforce(
        QuotaLimits(max_secondary_workers=1), user="alice", clusters=[cluster("a", secondary=3)], secondary_workers=0
    )


def test_both_quotas_exceeded_are_named_in_one_error():
    with pytest.raises(QuotaExceededError) as raised:
        enforce(QuotaLimits(max_clusters=0, max_secondary_workers=0), user="alice", clusters=[], secondary_workers=1)

    assert len(raised.value.violations) == 3  # two limits and what to do
    assert "alice has none" in str(raised.value) and "alice uses none" in str(raised.value)


def test_no_limit_means_no_refusal():
    limits = QuotaLimits(max_clusters=None, max_secondary_workers=None)

    enforce(limits, user="alice", clusters=[cluster(str(i), secondary=9) for i in range(9)], secondary_workers=9)


def test_the_refusal_fails_the_task_without_retries():
    from airflow.providers.common.compat.sdk import AirflowFailException

    assert issubclass(QuotaExceededError, AirflowFailException)


# -- reading the use from Dataproc -------------------------------------------------------------------------


def dataproc_cluster(name: str, state: str, secondary: int, names: int = 0) -> dataproc_v1.Cluster:
    return dataproc_v1.Cluster(
        cluster_name=name,
        config={
            "secondary_worker_config": {"num_instances": secondary, "instance_names": [f"s{i}" for i in range(names)]}
        },
        status={"state": dataproc_v1.ClusterStatus.State[state]},
    )


def test_the_owned_clusters_are_listed_with_dataprocs_label_filter(mocker):
    hook = listing_hook(
        mocker,
        dataproc_cluster("a", "RUNNING", 2),
        dataproc_cluster("b", "UPDATING", 1, names=3),  # shrinking: its nodes still exist
    )

    owned = hook.list_provider_clusters(project_id="p", region="r", labels={"owner": "alice"})

    hook.get_cluster_client.assert_called_once_with("r")
    hook.get_cluster_client.return_value.list_clusters.assert_called_once_with(
        request={"project_id": "p", "region": "r", "filter": OWNER_FILTER.format("alice")}
    )
    assert owned == [cluster("a", secondary=2), cluster("b", "UPDATING", secondary=3)]


def test_check_quota_lists_the_sanitised_users_clusters(mocker):
    hook = listing_hook(mocker, dataproc_cluster("a", "RUNNING", 0))

    with pytest.raises(QuotaExceededError, match="alice-smith has 1: a"):
        check_quota(
            hook,
            project_id="p",
            region="r",
            user="Alice.Smith",
            secondary_workers=0,
            limits=QuotaLimits(max_clusters=1),
        )

    assert listed_filter(hook) == OWNER_FILTER.format("alice-smith")


def test_check_quota_without_limits_calls_nothing(mocker):
    hook = listing_hook(mocker)

    check_quota(hook, project_id="p", region="r", user="a", secondary_workers=5, limits=QuotaLimits(None, None))

    hook.get_cluster_client.assert_not_called()
    hook.list_provider_clusters.assert_not_called()
