from __future__ import annotations

import pytest

from airflow_dask_provider.cluster_spec import DaskClusterSpec
from airflow_dask_provider.exceptions import ClusterError, ClusterSpecError
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator

from .conftest import cluster


def create(**kwargs) -> DaskDataprocCreateClusterOperator:
    return DaskDataprocCreateClusterOperator(task_id="create", cluster_name="c", project_id="p", region="r", **kwargs)


def test_literal_bad_value_fails_at_parse_time():
    with pytest.raises(ClusterSpecError, match="num_secondary_workers=-1"):
        create(num_secondary_workers=-1)


def test_templated_value_is_checked_at_execute_before_any_call(hook, context):
    operator = create(num_workers="{{ params.workers }}")
    operator.num_workers = "1"  # as rendered

    with pytest.raises(ClusterSpecError, match="num_workers='1'"):
        operator.execute(context)
    hook.get_cluster_info.assert_not_called()
    hook.create_dask_cluster.assert_not_called()


def test_keywords_override_a_given_spec():
    yarn = DaskClusterSpec(num_workers=4, dask_runtime="yarn", metadata={"dask-allow-plaintext": "true"})
    operator = create(cluster_spec=yarn, num_workers=6)

    spec = operator.build_spec()

    assert (spec.num_workers, spec.dask_runtime) == (6, "yarn")


def test_spec_fields_are_templated():
    assert {"num_workers", "idle_delete_ttl", "labels", "cluster_name"} <= set(
        DaskDataprocCreateClusterOperator.template_fields
    )


def test_creates_and_returns_addresses(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster()

    result = create(num_workers=3).execute(context)

    kwargs = hook.create_dask_cluster.call_args.kwargs
    assert kwargs["cluster_config"].worker_config.num_instances == 3
    assert kwargs["labels"]["created-by"] == "airflow-dask-provider"
    assert kwargs["labels"]["airflow-dag-id"] == "etl"
    assert result["scheduler_address"] == "tcp://c-m:8786"
    assert result["dashboard_url"].endswith("/gateway/default/dask/status")


def test_request_id_is_stable_within_a_try_and_changes_between_tries(context):
    operator = create()
    first = operator._request_id(context)
    again = operator._request_id(context)
    context["ti"].try_number = 2

    assert first == again != operator._request_id(context)


def test_running_cluster_is_reused(hook, context):
    hook.get_cluster_info.return_value = cluster()

    assert create().execute(context)["state"] == "RUNNING"
    hook.create_dask_cluster.assert_not_called()


def test_cluster_in_error_is_deleted_and_created_again(hook, context):
    hook.get_cluster_info.return_value = cluster("ERROR")
    hook.wait_for_cluster.return_value = cluster()

    create().execute(context)

    hook.delete_dask_cluster.assert_called_once()
    hook.wait_for_cluster_deleted.assert_called_once()
    hook.create_dask_cluster.assert_called_once()


def test_cluster_that_fails_to_start_is_deleted_and_the_error_names_it(hook, context):
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster("ERROR", detail="Init action failed")

    with pytest.raises(ClusterError, match="Cluster c is in state ERROR: Init action failed"):
        create().execute(context)
    hook.delete_dask_cluster.assert_called_once()


def test_kill_while_creating_deletes_the_cluster(hook, context):
    operator = create()
    operator._creating = True

    operator.on_kill()

    hook.delete_dask_cluster.assert_called_once_with(project_id="p", region="r", cluster_name="c")


def test_delete_of_a_missing_cluster_succeeds(hook, context):
    hook.delete_dask_cluster.return_value = False

    result = DaskDataprocDeleteClusterOperator(task_id="d", cluster_name="c", project_id="p", region="r").execute(
        context
    )

    assert result["deleted"] is False
    hook.wait_for_cluster_deleted.assert_not_called()


def test_links_are_stored_for_the_ui(hook, context):
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster()

    create().execute(context)

    pushed = context["ti"].pushed
    assert pushed["dask_dashboard_url"] == "https://gw/gateway/default/dask/status"
    assert pushed["dataproc_cluster_url"] == (
        "https://console.cloud.google.com/dataproc/clusters/c/monitoring?region=r&project=p"
    )


def test_the_bundled_init_actions_are_staged_and_run(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster()

    create(config_bucket="team-bucket", metadata={"nfs-server": "10.0.0.2", "nfs-export": "/share"}).execute(context)

    config = hook.create_dask_cluster.call_args.kwargs["cluster_config"]
    assert [a.executable_file for a in config.initialization_actions] == [
        "gs://team-bucket/staging/nfs-mount.sh",
        "gs://team-bucket/staging/dask.sh",
    ]
    assert config.gce_cluster_config.metadata["dask-runtime"] == "standalone"
    assert config.gce_cluster_config.metadata["nfs-server"] == "10.0.0.2"


def test_staging_can_be_turned_off(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster()

    create(stage_init_actions=False).execute(context)

    hook.stage_file.assert_not_called()


@pytest.mark.parametrize(
    ("state", "created", "phase"),
    [
        (None, False, "CREATE"),
        (None, True, "VANISHED"),
        ("RUNNING", False, "ADOPT"),
        ("RUNNING", True, "ADOPT"),
        ("DELETING", False, "AWAIT_DELETION"),
        ("ERROR", True, "REPLACE_FAILED"),
        ("CREATING", False, "AWAIT_READY"),
        ("UPDATING", True, "AWAIT_READY"),
        ("REPAIRING", False, "AWAIT_READY"),
        ("STOPPING", False, "AWAIT_READY"),
        ("STARTING", False, "AWAIT_READY"),
        ("STOPPED", False, "START"),
        ("STOPPED", True, "START"),
    ],
)
def test_the_create_operator_names_its_next_phase_from_the_cluster_it_found(state, created, phase):
    from airflow_dask_provider.operators.cluster import Phase, next_phase

    assert next_phase(None if state is None else cluster(state), created=created) is Phase[phase]


def test_a_cluster_stopped_again_after_this_task_started_it_is_unusable():
    from airflow_dask_provider.operators.cluster import Phase, next_phase

    assert next_phase(cluster("STOPPED"), created=False, started=True) is Phase.UNUSABLE


def test_the_delete_operator_keeps_its_import_path():
    from airflow_dask_provider.operators import cluster, delete_cluster

    assert cluster.DaskDataprocDeleteClusterOperator is delete_cluster.DaskDataprocDeleteClusterOperator
    assert cluster.USAGE_XCOM_KEY == delete_cluster.USAGE_XCOM_KEY
