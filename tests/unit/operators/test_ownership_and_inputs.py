"""Issue 20: a cluster belongs to the run that created it; names left out are derived per run; inputs
that would be split, be empty or be missing fail before any API call, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dask_provider.exceptions import ClusterError, ClusterSpecError
from airflow_dask_provider.hooks.resources import JobInfo
from airflow_dask_provider.labels import derived_cluster_name, run_key
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from tests.recording_log import RecordingLog

from .conftest import cluster

WHERE = {"project_id": "p", "region": "r"}
OTHER_RUN = {
    "airflow-run-key": run_key("etl", "scheduled__2"),
    "airflow-run-id": "scheduled__2",
    "airflow-dag-id": "etl",
    "airflow-task-id": "create",
    "owner": "jane",
}


def create(**kwargs) -> DaskDataprocCreateClusterOperator:
    return DaskDataprocCreateClusterOperator(task_id="create", **{"cluster_name": "c", **WHERE, **kwargs})


def delete(**kwargs) -> DaskDataprocDeleteClusterOperator:
    return DaskDataprocDeleteClusterOperator(task_id="delete", **{"cluster_name": "c", **WHERE, **kwargs})


def submit(**kwargs) -> DaskDataprocSubmitJobOperator:
    return DaskDataprocSubmitJobOperator(
        task_id="run", **{"cluster_name": "c", "main": "gs://b/job.py", **WHERE, **kwargs}
    )


@pytest.fixture
def log(mocker):
    """What the create and delete operators log (Airflow 3 logs past caplog)."""
    recorded = RecordingLog()
    for kind in (DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator):
        mocker.patch.object(kind, "log", new_callable=mocker.PropertyMock, return_value=recorded)
    return recorded


def active_job(job_id: str, labels: dict[str, str]) -> JobInfo:
    return JobInfo(
        **WHERE, job_id=job_id, cluster_name="c", state="RUNNING", detail="", driver_output_uri="", labels=labels
    )


# -- ownership: create --------------------------------------------------------------------------


def test_a_running_cluster_of_another_run_fails_the_create_naming_its_owner(hook, context):
    hook.get_cluster_info.return_value = cluster(labels=OTHER_RUN)

    with pytest.raises(ClusterError) as refused:
        create().execute(context)

    message = str(refused.value)
    assert "run scheduled__2 of DAG etl (task create, owner jane)" in message
    assert "share_cluster=True" in message and "cluster_name out" in message
    hook.create_dask_cluster.assert_not_called()
    hook.delete_dask_cluster.assert_not_called()


def test_a_cluster_without_the_providers_labels_is_not_adopted_either(hook, context):
    hook.get_cluster_info.return_value = cluster(labels={"team": "data"})

    with pytest.raises(ClusterError, match="no Airflow run of this provider"):
        create().execute(context)


def test_a_retry_of_the_run_that_created_the_cluster_adopts_it(hook, context):
    hook.get_cluster_info.return_value = cluster()

    assert create().execute(context)["state"] == "RUNNING"
    hook.create_dask_cluster.assert_not_called()


def test_with_share_cluster_another_runs_cluster_is_used(hook, context, log):
    hook.get_cluster_info.return_value = cluster(labels=OTHER_RUN)

    result = create(share_cluster=True).execute(context)

    assert result["state"] == "RUNNING"
    assert any("sharing it (share_cluster=True)" in line for line in log.lines)
    hook.create_dask_cluster.assert_not_called()


def test_another_runs_cluster_in_error_is_not_deleted(hook, context):
    hook.get_cluster_info.return_value = cluster("ERROR", labels=OTHER_RUN)

    with pytest.raises(ClusterError, match="belongs to run scheduled__2"):
        create().execute(context)
    hook.delete_dask_cluster.assert_not_called()


def test_losing_a_create_race_to_another_run_fails_and_never_deletes_its_cluster(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = False  # AlreadyExists: the other run created it first
    hook.wait_for_cluster.return_value = cluster(labels=OTHER_RUN)
    operator = create()

    with pytest.raises(ClusterError, match="belongs to run scheduled__2"):
        operator.execute(context)
    operator.on_kill()

    hook.delete_dask_cluster.assert_not_called()


def test_without_a_name_the_create_derives_one_per_run(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster()
    operator = create(cluster_name=None)

    operator.execute(context)

    assert hook.create_dask_cluster.call_args.kwargs["cluster_name"] == derived_cluster_name(context)
    assert operator.cluster_name.startswith("dask-etl-")


# -- ownership: teardown ------------------------------------------------------------------------


def test_the_teardown_leaves_a_cluster_another_runs_job_is_on(hook, context, log):
    hook.list_active_jobs.return_value = [active_job("theirs", OTHER_RUN)]

    result = delete().execute(context)

    assert result["deleted"] is False
    assert result["left_for_jobs"] == ["theirs (RUNNING, run scheduled__2 of DAG etl (task create, owner jane))"]
    assert any(line.startswith("Leaving cluster c: jobs of other runs") for line in log.lines)
    hook.delete_dask_cluster.assert_not_called()


def test_the_teardown_deletes_a_cluster_only_its_own_runs_jobs_are_on(hook, context):
    own = {"airflow-run-key": run_key("etl", "manual__1")}
    hook.list_active_jobs.return_value = [active_job("mine", own)]
    hook.delete_dask_cluster.return_value = True

    result = delete(report_cost=False).execute(context)

    assert result["deleted"] is True
    hook.delete_dask_cluster.assert_called_once()


def test_create_submit_and_delete_without_names_meet_on_one_cluster(hook, context):
    hook.list_active_jobs.return_value = []
    hook.delete_dask_cluster.return_value = False
    operators = [create(cluster_name=None), submit(cluster_name=None), delete(cluster_name=None)]

    names = {operator.use_cluster_name(context) for operator in operators}

    assert names == {derived_cluster_name(context)}


# -- stricter inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["args", "py_files", "files"])
def test_a_string_where_a_list_belongs_is_refused_at_parse_time(field):
    with pytest.raises(ClusterSpecError) as refused:
        submit(**{field: "--input=gs://b/in"})

    assert refused.value.field == field
    assert "must be a list of strings, not one string" in str(refused.value)


def test_a_template_that_renders_to_a_string_is_refused_before_any_call(hook, context):
    operator = submit(args="{{ params.args }}")
    operator.args = "--input=gs://b/in"  # as rendered without native objects

    with pytest.raises(ClusterSpecError, match="args="):
        operator.execute(context)
    hook.get_cluster_info.assert_not_called()


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"region": ""}, "region"), ({"region": "europe west1"}, "region"), ({"project_id": ""}, "project_id")],
)
def test_an_empty_region_or_project_is_refused_at_parse_time(changes, field):
    for make in (create, delete, submit):
        with pytest.raises(ClusterSpecError) as refused:
            make(**changes)
        assert refused.value.field == field


def test_an_empty_templated_region_is_refused_before_any_call(hook, context):
    operator = create(region="{{ params.region }}")
    operator.region = ""  # as rendered

    with pytest.raises(ClusterSpecError, match="region=''"):
        operator.execute(context)
    hook.get_cluster_info.assert_not_called()
    hook.create_dask_cluster.assert_not_called()


def dag_in(folder: Path):
    from airflow.providers.common.compat.sdk import DAG

    dag = DAG("etl", schedule=None)
    dag.fileloc = str(folder / "etl.py")
    return dag


@pytest.mark.parametrize("field", ["main", "py_files", "files"])
def test_a_missing_literal_local_file_fails_at_parse_time_naming_its_field(tmp_path, field):
    (tmp_path / "job.py").write_text("print('hi')\n")
    values = {"main": "job.py", "py_files": [], "files": []}
    values[field] = "missing.py" if field == "main" else ["missing.py"]

    with dag_in(tmp_path), pytest.raises(ClusterSpecError) as refused:
        submit(**values)

    assert refused.value.field == field
    assert str(tmp_path / "missing.py") in str(refused.value)


def test_existing_local_files_relative_to_the_dag_folder_pass_parsing(tmp_path):
    (tmp_path / "job.py").write_text("print('hi')\n")
    (tmp_path / "mylib.py").write_text("X = 1\n")

    with dag_in(tmp_path):
        operator = submit(main="job.py", py_files=["mylib.py"], files=["gs://b/data.csv"])

    assert operator.py_files == ["mylib.py"]


def test_airflow_reports_a_missing_local_file_as_the_dags_import_error(tmp_path):
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag

    (tmp_path / "job.py").write_text("print('hi')\n")
    (tmp_path / "etl_dag.py").write_text(
        "from datetime import datetime\n"
        "from airflow.providers.common.compat.sdk import DAG\n"
        "from airflow_dask_provider.operators import DaskDataprocSubmitJobOperator\n"
        "with DAG('etl', schedule=None, start_date=datetime(2026, 1, 1)):\n"
        "    DaskDataprocSubmitJobOperator(task_id='run', main='job.py', py_files=['mylib.py'], region='r')\n"
    )

    bag = DagBag(dag_folder=str(tmp_path))

    [error] = bag.import_errors.values()
    assert "Invalid py_files='mylib.py'" in error
    assert str(tmp_path / "mylib.py") in error


def test_a_deferred_wait_that_could_not_read_the_job_says_so_and_how_a_retry_goes_on(context):
    from airflow_dask_provider.exceptions import DaskDataprocError

    payload = {
        "status": "error",
        "state": "UNKNOWN",
        "message": "EndpointUnreachableError: The endpoint 127.0.0.1:9 did not answer get_job for 58s",
        "resource": None,
    }

    with pytest.raises(DaskDataprocError) as failed:
        submit().execute_complete(context, payload)

    assert "did not answer get_job" in str(failed.value)
    assert "A retry of this task attaches to the job" in str(failed.value)
