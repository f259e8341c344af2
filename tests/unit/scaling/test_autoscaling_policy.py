"""AutoscalingPolicySpec: Dataproc's rules, checked with no API call."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.scaling.autoscaling_policy import AutoscalingPolicySpec


def spec(**changes) -> AutoscalingPolicySpec:
    return AutoscalingPolicySpec(**{"policy_id": "dask-policy", "worker_max_instances": 10, **changes})


def test_defaults_follow_dataproc():
    data = spec().to_dict()

    assert data["worker_config"] == {"min_instances": 2, "max_instances": 10, "weight": 1}
    assert data["secondary_worker_config"] == {"min_instances": 0, "max_instances": 0, "weight": 1}
    assert data["basic_algorithm"]["cooldown_period"] == 120
    assert data["basic_algorithm"]["yarn_config"]["graceful_decommission_timeout"] == 3600


def test_durations_accept_text_and_timedelta():
    data = spec(cooldown_period="5m", graceful_decommission_timeout=timedelta(hours=2)).to_dict()

    assert data["basic_algorithm"]["cooldown_period"] == 300
    assert data["basic_algorithm"]["yarn_config"]["graceful_decommission_timeout"] == 7200


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"worker_min_instances": 6, "worker_max_instances": 5}, "worker_min_instances", "must not exceed"),
        ({"secondary_min_instances": 3, "secondary_max_instances": 2}, "secondary_min_instances", "must not exceed"),
        ({"worker_min_instances": 1}, "worker_min_instances", "from 2 to 1000"),
        ({"scale_up_factor": 1.5}, "scale_up_factor", "0.0 to 1.0"),
        ({"scale_down_factor": -0.1}, "scale_down_factor", "0.0 to 1.0"),
        ({"scale_down_min_worker_fraction": 2}, "scale_down_min_worker_fraction", "0.0 to 1.0"),
        ({"cooldown_period": "1m"}, "cooldown_period", "2 minutes to 1 day"),
        ({"cooldown_period": "2d"}, "cooldown_period", "2 minutes to 1 day"),
        ({"graceful_decommission_timeout": "25h"}, "graceful_decommission_timeout", "0 seconds to 1 day"),
        ({"policy_id": "-bad"}, "policy_id", "3 to 50"),
        ({"labels": {"Bad": "x"}}, "labels key", "lowercase"),
    ],
)
def test_invalid_policy_names_field_value_and_allowed_range(changes, field, allowed):
    with pytest.raises(ClusterSpecError) as raised:
        spec(**changes)

    assert raised.value.field == field
    assert allowed in raised.value.allowed
    assert str(raised.value).startswith(f"Invalid {field}=")
