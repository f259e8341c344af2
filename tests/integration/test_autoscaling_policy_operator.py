"""DaskDataprocCreateAutoscalingPolicyOperator against a live emulator: idempotent, and attachable to a cluster."""

from __future__ import annotations

from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators.autoscaling_policy import DaskDataprocCreateAutoscalingPolicyOperator
from airflow_dask_provider.operators.cluster import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator

WHERE = {"project_id": "itest", "region": "europe-west1"}


def policy(policy_id: str, **changes) -> DaskDataprocCreateAutoscalingPolicyOperator:
    values = {"worker_max_instances": 6, "secondary_max_instances": 4, "cooldown_period": "3m", **changes}
    return DaskDataprocCreateAutoscalingPolicyOperator(task_id="policy", policy_id=policy_id, **WHERE, **values)


def stored(policy_id: str):
    client = DaskDataprocHook().get_autoscaling_policy_client(WHERE["region"])
    return client.get_autoscaling_policy(name=f"projects/itest/regions/europe-west1/autoscalingPolicies/{policy_id}")


def test_create_then_same_content_is_unchanged_then_other_content_updates(emulator, context):
    first = policy("idempotent").execute(context)
    again = policy("idempotent").execute(context)
    changed = policy("idempotent", secondary_max_instances=8, scale_up_factor=0.25).execute(context)

    assert [first["action"], again["action"], changed["action"]] == ["created", "unchanged", "updated"]
    assert again["policy"] == first["policy"]
    saved = stored("idempotent")
    assert (saved.secondary_worker_config.max_instances, saved.basic_algorithm.yarn_config.scale_up_factor) == (8, 0.25)
    assert saved.basic_algorithm.cooldown_period.total_seconds() == 180


def test_a_policy_made_elsewhere_with_dataprocs_defaults_compares_equal(emulator, context):
    client = DaskDataprocHook().get_autoscaling_policy_client(WHERE["region"])
    client.create_autoscaling_policy(
        parent="projects/itest/regions/europe-west1",
        policy={
            "id": "made-elsewhere",
            "worker_config": {"max_instances": 6},  # min 2, weight 1 and the cooldown left to Dataproc
            "basic_algorithm": {
                "yarn_config": {
                    "scale_up_factor": 0.5,
                    "scale_down_factor": 1.0,
                    "graceful_decommission_timeout": {"seconds": 3600},
                }
            },
        },
    )

    result = policy("made-elsewhere", secondary_max_instances=0, cooldown_period="2m").execute(context)

    assert result["action"] == "unchanged"


def test_the_cluster_spec_attaches_the_policy(emulator, context):
    created = policy("attached").execute(context)
    name = "itest-with-policy"
    cluster = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name=name, num_workers=0, autoscaling_policy_uri=created["name"], **WHERE
    )
    try:
        cluster.execute(context)
        got = DaskDataprocHook().get_cluster_client(WHERE["region"]).get_cluster(**WHERE, cluster_name=name)
        assert got.config.autoscaling_config.policy_uri == created["name"]
    finally:
        DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=name, **WHERE).execute(context)
