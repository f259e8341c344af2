"""AutoscalingPolicyService: policies validated as Dataproc validates them; clusters must name real ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.api_core.exceptions import AlreadyExists, InvalidArgument, NotFound

from .conftest import PROJECT, REGION

PARENT = f"projects/{PROJECT}/regions/{REGION}"


def policy(policy_id: str, **changes) -> dict:
    """Return a valid policy, with ``changes`` merged into its top-level fields."""
    body = {
        "id": policy_id,
        "basic_algorithm": {
            "yarn_config": {
                "scale_up_factor": 0.5,
                "scale_down_factor": 0.5,
                "graceful_decommission_timeout": {"seconds": 600},
            }
        },
        "worker_config": {"max_instances": 5},
    }
    return {**body, **changes}


def test_created_policy_gets_dataprocs_defaults(policies):
    created = policies.create_autoscaling_policy(parent=PARENT, policy=policy("defaults"))

    assert created.name == f"{PARENT}/autoscalingPolicies/defaults"
    assert created.basic_algorithm.cooldown_period == timedelta(minutes=2)
    assert created.worker_config.min_instances == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"basic_algorithm": None}, "policy.basic_algorithm"),
        ({"basic_algorithm": {"yarn_config": {"scale_up_factor": 1.5}}}, "scale_up_factor"),
        ({"basic_algorithm": {"yarn_config": {"scale_down_factor": -0.1}}}, "scale_down_factor"),
        (
            {"basic_algorithm": {"yarn_config": {"graceful_decommission_timeout": {"seconds": 2 * 86400}}}},
            "graceful_decommission_timeout",
        ),
        ({"basic_algorithm": {"yarn_config": {}, "cooldown_period": {"seconds": 60}}}, "cooldown_period"),
        ({"worker_config": {"min_instances": 1, "max_instances": 5}}, "worker_config.min_instances"),
        ({"worker_config": {"min_instances": 4, "max_instances": 3}}, "worker_config.max_instances"),
        ({"worker_config": {}}, "worker_config.max_instances"),
        (
            {"secondary_worker_config": {"min_instances": 2, "max_instances": 1}},
            "secondary_worker_config.max_instances",
        ),
        ({"id": "-bad"}, "policy.id"),
    ],
)
def test_invalid_policy_is_invalid_argument_naming_the_field(policies, changes, field):
    body = {key: value for key, value in policy("invalid", **changes).items() if value is not None}

    with pytest.raises(InvalidArgument, match=field):
        policies.create_autoscaling_policy(parent=PARENT, policy=body)


def test_duplicate_policy_is_already_exists(policies):
    policies.create_autoscaling_policy(parent=PARENT, policy=policy("twice"))

    with pytest.raises(AlreadyExists, match="twice"):
        policies.create_autoscaling_policy(parent=PARENT, policy=policy("twice"))


def test_missing_policy_is_not_found(policies):
    with pytest.raises(NotFound, match="autoscalingPolicies/nope"):
        policies.get_autoscaling_policy(name=f"{PARENT}/autoscalingPolicies/nope")


def test_update_replaces_the_policy(policies):
    policies.create_autoscaling_policy(parent=PARENT, policy=policy("changing"))
    name = f"{PARENT}/autoscalingPolicies/changing"

    policies.update_autoscaling_policy(
        policy={**policy("changing"), "name": name, "worker_config": {"max_instances": 9}}
    )

    assert policies.get_autoscaling_policy(name=name).worker_config.max_instances == 9


def test_list_returns_the_regions_policies(policies):
    policies.create_autoscaling_policy(parent=PARENT, policy=policy("listed"))

    names = [p.id for p in policies.list_autoscaling_policies(parent=PARENT)]

    assert "listed" in names
    assert [p.id for p in policies.list_autoscaling_policies(parent=f"projects/{PROJECT}/regions/elsewhere")] == []


def test_deleted_policy_is_not_found(policies):
    policies.create_autoscaling_policy(parent=PARENT, policy=policy("deleted"))
    name = f"{PARENT}/autoscalingPolicies/deleted"

    policies.delete_autoscaling_policy(name=name)

    with pytest.raises(NotFound):
        policies.get_autoscaling_policy(name=name)


def test_cluster_naming_a_missing_policy_is_invalid_argument(clusters):
    config = {"autoscaling_config": {"policy_uri": f"{PARENT}/autoscalingPolicies/absent"}}

    with pytest.raises(InvalidArgument, match="policy_uri"):
        clusters.create_cluster(
            project_id=PROJECT, region=REGION, cluster={"cluster_name": "no-policy", "config": config}
        )
