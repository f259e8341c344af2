"""The create operator's security defaults: a Dask TLS credential per cluster and a chosen service account."""

from __future__ import annotations

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError, ConfigurationError
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator

from .conftest import cluster

CREDENTIAL = "gs://p-dask-staging-r/airflow-dask-provider/credentials/p/r/c/0123456789abcdef/dask-tls.pem"
DEFAULT_ACCOUNT = "AIRFLOW__DASK_DATAPROC__DEFAULT_SERVICE_ACCOUNT"


def create(**kwargs) -> DaskDataprocCreateClusterOperator:
    return DaskDataprocCreateClusterOperator(task_id="create", cluster_name="c", project_id="p", region="r", **kwargs)


@pytest.fixture
def creating(hook):
    """A hook on which the cluster does not exist yet, is created, and comes up RUNNING."""
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster()
    hook.stage_dask_credential.return_value = CREDENTIAL
    return hook


def node_config(hook):
    return hook.create_dask_cluster.call_args.kwargs["cluster_config"].gce_cluster_config


def test_a_new_cluster_gets_a_credential_of_its_own_named_in_its_metadata(creating, context):
    create().execute(context)

    creating.stage_dask_credential.assert_called_once_with(
        bucket="p-dask-staging-r", project_id="p", region="r", cluster_name="c"
    )
    assert node_config(creating).metadata["dask-tls-uri"] == CREDENTIAL
    creating.delete_dask_credential.assert_not_called()


def test_the_credential_goes_when_the_create_call_fails(creating, context):
    creating.create_dask_cluster.side_effect = RuntimeError("API down")

    with pytest.raises(RuntimeError):
        create().execute(context)

    creating.delete_dask_credential.assert_called_once_with(uri=CREDENTIAL)


def test_the_credential_goes_when_another_run_created_the_cluster_first(creating, context):
    creating.create_dask_cluster.return_value = False  # already exists: that cluster has its own

    create().execute(context)

    creating.delete_dask_credential.assert_called_once_with(uri=CREDENTIAL)


@pytest.mark.parametrize(
    "spec",
    [
        {"metadata": {"dask-tls-uri": "gs://mine/creds.pem"}},
        {"metadata": {"dask-allow-plaintext": "true"}},
        {"dask_runtime": "yarn", "metadata": {"dask-allow-plaintext": "true"}},
    ],
    ids=["own credential", "plaintext opt-out", "yarn runtime"],
)
def test_no_credential_is_made_for_a_cluster_that_brings_or_needs_none(creating, context, spec):
    create(**spec).execute(context)

    creating.stage_dask_credential.assert_not_called()


def test_a_reused_cluster_gets_no_new_credential(hook, context):
    hook.get_cluster_info.return_value = cluster(tls_credential_uri=CREDENTIAL)

    result = create().execute(context)

    hook.stage_dask_credential.assert_not_called()
    assert result["tls_credential_uri"] == CREDENTIAL


def test_no_service_account_and_no_default_fails_before_any_call_naming_both(hook, context, monkeypatch):
    monkeypatch.delenv(DEFAULT_ACCOUNT)

    with pytest.raises(ClusterSpecError, match="service_account") as caught:
        create().execute(context)

    assert "default_service_account" in str(caught.value) and "allow_default_service_account" in str(caught.value)
    assert hook.mock_calls == []


def test_the_configured_default_service_account_is_applied(creating, context, monkeypatch):
    monkeypatch.setenv(DEFAULT_ACCOUNT, "etl-nodes@analytics.iam.gserviceaccount.com")

    create().execute(context)

    assert node_config(creating).service_account == "etl-nodes@analytics.iam.gserviceaccount.com"


def test_the_tasks_own_service_account_wins_over_the_default(creating, context):
    create(service_account="job-nodes@analytics.iam.gserviceaccount.com").execute(context)

    assert node_config(creating).service_account == "job-nodes@analytics.iam.gserviceaccount.com"


def test_an_admin_may_allow_the_compute_engine_default_account(creating, context, monkeypatch):
    monkeypatch.delenv(DEFAULT_ACCOUNT)
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__ALLOW_DEFAULT_SERVICE_ACCOUNT", "True")

    create().execute(context)

    assert node_config(creating).service_account == ""


@pytest.mark.parametrize("account", ["dask-nodes", "Dask@x.com", "a b@x.com", "nodes@project"])
def test_a_malformed_service_account_fails_at_parse_time(account):
    with pytest.raises(ClusterSpecError, match="service_account"):
        create(service_account=account)


def test_a_malformed_configured_default_names_the_option(hook, context, monkeypatch):
    monkeypatch.setenv(DEFAULT_ACCOUNT, "not-an-email")

    with pytest.raises(ConfigurationError, match=r"\[dask_dataproc\] default_service_account"):
        create().execute(context)
    assert hook.mock_calls == []
