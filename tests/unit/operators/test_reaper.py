"""The reaper: which clusters it deletes, which it keeps, the table it logs, dry runs."""

from __future__ import annotations

import time

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError, ConfigurationError
from airflow_dask_provider.hooks.resources import LabelledCluster
from airflow_dask_provider.operators import reaper
from airflow_dask_provider.operators.reaper import DaskDataprocReapClustersOperator, judge

NOW = 1_800_000_000.0


def found(name: str, state: str = "RUNNING", expiry: float | None = NOW + 3600, **kwargs) -> LabelledCluster:
    values = {
        "project_id": "p",
        "region": "r",
        "cluster_name": name,
        "cluster_uuid": f"{name}-uuid",
        "state": state,
        "detail": "",
        "expiry": expiry,
        "labels": {},
    }
    return LabelledCluster(**{**values, **kwargs})


@pytest.mark.parametrize(
    "cluster, action, reason",
    [
        (found("old", expiry=NOW - 7200), "delete", "expired 2.0h ago"),
        (found("broken", "ERROR", detail="Init action failed"), "delete", "in ERROR: Init action failed"),
        (found("fresh"), "keep", "expires in 1.0h"),
        (found("forever", expiry=None), "keep", "no expiry label"),
        (found("going", "DELETING", expiry=NOW - 7200), "skip", "already being deleted"),
        (found("starting", "CREATING", expiry=NOW - 60), "delete", "expired 1m ago"),
    ],
)
def test_verdicts(cluster, action, reason):
    assert judge(cluster, NOW) == reaper.Verdict(action, reason)


@pytest.fixture
def hook(mocker):
    fake = mocker.MagicMock()
    fake.project_id = "connection-project"
    mocker.patch.object(DaskDataprocReapClustersOperator, "hook", new_callable=mocker.PropertyMock, return_value=fake)
    return fake


@pytest.fixture
def listed(hook):
    now = time.time()
    clusters = [found("old", expiry=now - 60), found("broken", "ERROR"), found("fresh", expiry=now + 3600)]
    hook.list_provider_clusters.side_effect = lambda **where: clusters
    return hook.list_provider_clusters


def reap(**kwargs) -> DaskDataprocReapClustersOperator:
    return DaskDataprocReapClustersOperator(task_id="reap", **{"project_ids": "p", "regions": ["r"], **kwargs})


def test_expired_and_broken_clusters_are_deleted_by_uuid_and_awaited(hook, listed, context):
    rows = reap().execute(context)

    deleted = [call.kwargs["cluster_uuid"] for call in hook.delete_dask_cluster.call_args_list]
    awaited = [call.kwargs["cluster_name"] for call in hook.wait_for_cluster_deleted.call_args_list]
    assert deleted == ["old-uuid", "broken-uuid"] and awaited == ["old", "broken"]
    assert [(row["cluster"], row["action"]) for row in rows] == [
        ("old", "delete"),
        ("broken", "delete"),
        ("fresh", "keep"),
    ]


def test_a_dry_run_deletes_nothing(hook, listed, context):
    rows = reap(dry_run="true").execute(context)

    hook.delete_dask_cluster.assert_not_called()
    assert [row["action"] for row in rows] == ["would delete", "would delete", "keep"]


def test_the_log_has_a_table_of_every_cluster(hook, listed, context, mocker):
    log = mocker.MagicMock()
    mocker.patch.object(DaskDataprocReapClustersOperator, "log", new_callable=mocker.PropertyMock, return_value=log)

    reap().execute(context)

    [(message, *args)] = [call.args for call in log.info.call_args_list if "Reaper" in call.args[0]]
    text = message % tuple(args)
    assert "Reaper deleted 2 of 3 clusters" in text
    assert "project  region  cluster" in text
    assert "fresh" in text and "expires in" in text


def test_every_project_and_region_is_looked_in(hook, listed, context):
    reap(project_ids=["a", "b"], regions="r1, r2").execute(context)

    looked = [(call.kwargs["project_id"], call.kwargs["region"]) for call in listed.call_args_list]
    assert looked == [("a", "r1"), ("a", "r2"), ("b", "r1"), ("b", "r2")]


def test_projects_and_regions_come_from_the_configuration(hook, listed, context, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__REAPER_REGIONS", "europe-west1")

    reap(project_ids=None, regions=None).execute(context)

    assert [(c.kwargs["project_id"], c.kwargs["region"]) for c in listed.call_args_list] == [
        ("connection-project", "europe-west1")
    ]


def test_without_regions_the_reaper_fails_before_any_call(hook, listed, context):
    with pytest.raises(ClusterSpecError, match="reaper_regions"):
        reap(regions=None).execute(context)
    listed.assert_not_called()


def test_on_the_emulator_without_a_project_the_reaper_fails_naming_where_to_set_one(context, monkeypatch, mocker):
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

    listed = mocker.patch.object(DaskDataprocHook, "list_provider_clusters")
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__REAPER_REGIONS", "europe-west1")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)

    with pytest.raises(ConfigurationError, match=r"reaper_projects.*extra 'project'"):
        reap(project_ids=None, regions=None, gcp_conn_id="no_such_connection").execute(context)
    listed.assert_not_called()


def test_a_cluster_replaced_since_the_listing_is_left_alone(hook, listed, context):
    from airflow_dask_provider.exceptions import ClusterReplacedError

    hook.delete_dask_cluster.side_effect = [ClusterReplacedError("old", "u"), True]

    reap().execute(context)

    assert [call.kwargs["cluster_name"] for call in hook.wait_for_cluster_deleted.call_args_list] == ["broken"]


def test_the_table_is_aligned():
    rows = [
        {
            "project": "p",
            "region": "r",
            "cluster": "a-long-name",
            "state": "ERROR",
            "expiry": "-",
            "action": "delete",
            "reason": "in ERROR",
        }
    ]

    header, rule, line = reaper.format_table(rows).splitlines()

    assert header.index("cluster") == line.index("a-long-name")
    assert set(rule) <= {"-", " "}


# -- credentials of clusters that are gone ---------------------------------------------------------

CREDENTIALS = "gs://staging/airflow-dask-provider/credentials/p/r"


def test_orphan_credentials_are_old_enough_and_named_by_no_live_cluster():
    kept = [
        (f"{CREDENTIALS}/live/1/dask-tls.pem", NOW - 7200),
        (f"{CREDENTIALS}/gone/2/dask-tls.pem", NOW - 7200),
        (f"{CREDENTIALS}/being-created/3/dask-tls.pem", NOW - 60),
    ]

    orphans = reaper.orphan_credentials(kept, {f"{CREDENTIALS}/live/1/dask-tls.pem"}, NOW, grace=3600)

    assert orphans == [f"{CREDENTIALS}/gone/2/dask-tls.pem"]


@pytest.fixture
def credentials(hook, mocker):
    """A live cluster naming its credential, and one credential of a cluster that is gone."""
    live = found(
        "fresh",
        expiry=time.time() + 3600,
        config_bucket="staging",
        tls_credential_uri=f"{CREDENTIALS}/fresh/1/dask-tls.pem",
    )
    hook.list_provider_clusters.return_value = [live]
    hook.known_staging_buckets.return_value = ["provider-own"]
    old = time.time() - 7200
    hook.list_dask_credentials.side_effect = lambda bucket, **where: {
        "staging": [(f"{CREDENTIALS}/fresh/1/dask-tls.pem", old), (f"{CREDENTIALS}/gone/2/dask-tls.pem", old)],
        "provider-own": [],
    }[bucket]
    return hook


def test_the_credentials_of_clusters_that_are_gone_are_deleted_and_live_ones_kept(credentials, context):
    reap().execute(context)

    assert [c.kwargs["bucket"] for c in credentials.list_dask_credentials.call_args_list] == ["provider-own", "staging"]
    credentials.delete_dask_credential.assert_called_once_with(uri=f"{CREDENTIALS}/gone/2/dask-tls.pem")


def test_a_dry_run_deletes_no_credential(credentials, context):
    reap(dry_run=True).execute(context)

    credentials.delete_dask_credential.assert_not_called()


def test_a_failing_sweep_is_logged_and_never_fails_the_reaper(credentials, context):
    credentials.list_dask_credentials.side_effect = PermissionError("storage.objects.list denied")

    rows = reap().execute(context)

    assert [row["cluster"] for row in rows] == ["fresh"]
    credentials.delete_dask_credential.assert_not_called()
