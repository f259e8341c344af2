"""DaskDataprocCreateAutoscalingPolicyOperator: refused before any API call when invalid; create, update or leave."""

from __future__ import annotations

import functools

import pytest
from google.api_core.exceptions import AlreadyExists, NotFound
from google.cloud import dataproc_v1

from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.hooks.autoscaling import ScalingCalls, policy_from_dict
from airflow_dask_provider.operators.autoscaling_policy import DaskDataprocCreateAutoscalingPolicyOperator
from airflow_dask_provider.scaling.autoscaling_policy import AutoscalingPolicySpec

NAME = "projects/p/regions/r/autoscalingPolicies/dask-policy"


def operator(**kwargs) -> DaskDataprocCreateAutoscalingPolicyOperator:
    values = {"policy_id": "dask-policy", "worker_max_instances": 10, **kwargs}
    return DaskDataprocCreateAutoscalingPolicyOperator(task_id="policy", project_id="p", region="r", **values)


def stored(**changes) -> dataproc_v1.AutoscalingPolicy:
    """The policy as Dataproc returns it: named, with the spec's content."""
    data = AutoscalingPolicySpec(**{"policy_id": "dask-policy", "worker_max_instances": 10, **changes}).to_dict()
    return policy_from_dict(data, name=NAME)


@pytest.fixture
def client(hook):
    """The policy client under the hook's own policy calls, mocked."""
    for name in ("get_autoscaling_policy", "create_autoscaling_policy", "update_autoscaling_policy"):
        getattr(hook, name).side_effect = functools.partial(getattr(ScalingCalls, name), hook)
    return hook.get_autoscaling_policy_client.return_value


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"worker_min_instances": 8, "worker_max_instances": 4}, "Invalid worker_min_instances=8"),
        ({"secondary_min_instances": 3, "secondary_max_instances": 1}, "Invalid secondary_min_instances=3"),
        ({"scale_up_factor": 1.2}, "Invalid scale_up_factor=1.2"),
        ({"scale_down_factor": -0.5}, "Invalid scale_down_factor=-0.5"),
        ({"cooldown_period": "30s"}, "Invalid cooldown_period='30s'"),
        ({"cooldown_period": 2 * 86400}, "Invalid cooldown_period=172800"),
    ],
)
def test_invalid_literal_policy_is_refused_when_the_dag_is_parsed(changes, message):
    with pytest.raises(ClusterSpecError, match=message):
        operator(**changes)


@pytest.mark.parametrize(
    ("field", "rendered"),
    [("scale_up_factor", "1.5"), ("cooldown_period", "1m"), ("worker_min_instances", "12")],
)
def test_invalid_templated_policy_is_refused_before_any_api_call(hook, context, field, rendered):
    task = operator(**{field: "{{ params.value }}"})
    setattr(task, field, rendered)  # as rendered

    with pytest.raises(ClusterSpecError, match=f"Invalid {field}="):
        task.execute(context)
    assert hook.mock_calls == []


def test_missing_policy_is_created(hook, client, context):
    client.get_autoscaling_policy.side_effect = NotFound("no")
    client.create_autoscaling_policy.return_value = stored()

    result = operator().execute(context)

    assert result["action"] == "created"
    assert result["name"] == NAME
    sent = client.create_autoscaling_policy.call_args.kwargs
    assert sent["parent"] == "projects/p/regions/r"
    assert sent["policy"].worker_config.max_instances == 10
    assert sent["policy"].basic_algorithm.cooldown_period.total_seconds() == 120


def test_same_policy_is_left_alone(client, context):
    client.get_autoscaling_policy.return_value = stored()

    result = operator().execute(context)

    assert result["action"] == "unchanged"
    client.create_autoscaling_policy.assert_not_called()
    client.update_autoscaling_policy.assert_not_called()


def test_policy_with_other_content_is_updated(client, context):
    client.get_autoscaling_policy.return_value = stored(worker_max_instances=5)
    client.update_autoscaling_policy.return_value = stored()

    result = operator().execute(context)

    assert result["action"] == "updated"
    sent = client.update_autoscaling_policy.call_args.kwargs["policy"]
    assert (sent.name, sent.worker_config.max_instances) == (NAME, 10)


def test_policy_created_concurrently_is_compared(client, context):
    client.get_autoscaling_policy.side_effect = [NotFound("no"), stored()]
    client.create_autoscaling_policy.side_effect = AlreadyExists("raced")

    assert operator().execute(context)["action"] == "unchanged"


def test_policy_fields_are_templated():
    assert {"policy_id", "worker_max_instances", "scale_up_factor", "cooldown_period"} <= set(
        DaskDataprocCreateAutoscalingPolicyOperator.template_fields
    )
