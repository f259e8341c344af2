"""The delete operator logs and returns the cluster's cost once it is gone, in both modes."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_dask_provider.cost import ClusterUsage, NodeGroup
from airflow_dask_provider.operators import DaskDataprocDeleteClusterOperator
from airflow_dask_provider.operators.cluster import USAGE_XCOM_KEY
from airflow_dask_provider.triggers.dataproc import event

WHERE = {"project_id": "p", "region": "r"}


def usage(hours_ago: float = 1.0) -> ClusterUsage:
    nodes = NodeGroup("worker", "n2-standard-4", 3, "standard", "pd-balanced", 100, 0)
    return ClusterUsage(cluster_name="c", cluster_uuid="u", created_at=time.time() - hours_ago * 3600, groups=(nodes,))


def delete(**kwargs) -> DaskDataprocDeleteClusterOperator:
    return DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name="c", **WHERE, **kwargs)


@pytest.fixture
def read_usage(hook):
    hook.get_cluster_usage.return_value = usage()
    return hook.get_cluster_usage


@pytest.fixture
def xcom(context):
    """Let the context's task instance pull what it pushed."""
    ti = context["ti"]
    ti.xcom_pull = lambda task_ids, key: ti.pushed.get(key)
    return ti.pushed


def test_the_cost_is_logged_and_returned_after_the_deletion(hook, read_usage, context, mocker):
    hook.delete_dask_cluster.return_value = True
    log = mocker.MagicMock()
    mocker.patch.object(DaskDataprocDeleteClusterOperator, "log", new_callable=mocker.PropertyMock, return_value=log)

    result = delete().execute(context)

    cost = result["cost"]
    assert cost["node_hours"] == {"n2-standard-4 standard": pytest.approx(3.0, abs=0.01)}
    assert cost["estimated_cost"] > 0 and cost["currency"] == "USD"
    assert cost["message"].startswith("Cost of cluster c: 1.00 h, 3.00 node-hours")
    read_usage.assert_called_once_with(**WHERE, cluster_name="c")
    assert mocker.call("%s", cost["message"]) in log.info.call_args_list
    assert hook.mock_calls.index(
        next(call for call in hook.mock_calls if call[0] == "delete_dask_cluster")
    ) < hook.mock_calls.index(next(call for call in hook.mock_calls if call[0] == "wait_for_cluster_deleted"))


def test_deferred_deletion_keeps_the_usage_in_xcom_and_reports_the_cost_on_resume(hook, read_usage, context, xcom):
    hook.delete_dask_cluster.return_value = True
    operator = delete(deferrable=True)

    with pytest.raises(TaskDeferred):
        operator.execute(context)
    result = operator.execute_complete(context, event("success", state="DELETED", message=""))

    assert xcom[USAGE_XCOM_KEY]["cluster_uuid"] == "u"
    assert result["deleted"] is True
    assert result["cost"]["node_hours"] == {"n2-standard-4 standard": pytest.approx(3.0, abs=0.01)}


def test_a_price_table_argument_overrides_the_built_in_one(hook, read_usage, context):
    hook.delete_dask_cluster.return_value = True
    table = {"currency": "EUR", "source": "contract", "machine_types": {"n2-standard-4": {"standard": 1.0}}}

    cost = delete(price_table=table).execute(context)["cost"]

    assert (cost["currency"], cost["price_source"]) == ("EUR", "contract")
    assert cost["compute"] == pytest.approx(3.0, abs=0.01)


def test_the_configured_price_table_applies(hook, read_usage, context, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__PRICE_TABLE", '{"dataproc_vcpu_hour": 1.0}')
    hook.delete_dask_cluster.return_value = True

    assert delete().execute(context)["cost"]["dataproc_fee"] == pytest.approx(12.0, abs=0.05)


def test_a_cluster_that_cannot_be_read_is_still_deleted(hook, read_usage, context):
    read_usage.side_effect = RuntimeError("permission denied")
    hook.delete_dask_cluster.return_value = True

    result = delete().execute(context)

    assert result["deleted"] is True and "cost" not in result


def test_a_bad_price_table_does_not_fail_the_deletion(hook, read_usage, context, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__PRICE_TABLE", "/nowhere/prices.json")
    hook.delete_dask_cluster.return_value = True

    result = delete().execute(context)

    assert result["deleted"] is True and result["cost"] is None


def test_no_cost_line_when_turned_off(hook, read_usage, context):
    hook.delete_dask_cluster.return_value = True

    result = delete(report_cost=False).execute(context)

    assert "cost" not in result
    read_usage.assert_not_called()
