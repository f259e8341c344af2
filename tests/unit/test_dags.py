"""The example DAGs load without errors and have the shape their docs promise."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_example_dags_load_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "dask_ephemeral_etl" in dagbag.dags


def test_ephemeral_etl_deletes_the_cluster_as_a_teardown(dagbag):
    dag = dagbag.dags["dask_ephemeral_etl"]
    delete = dag.get_task("delete_cluster")

    assert delete.is_teardown
    assert {t.task_id for t in delete.upstream_list} == {"create_cluster", "csv_to_parquet"}
    assert dag.get_task("csv_to_parquet").main.endswith("csv_to_parquet.py")


def test_every_example_cluster_names_its_nodes_service_account_outside_the_trigger_form(dagbag):
    from airflow_dask_provider.cluster_spec import validate_service_account
    from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator

    creates = [
        task
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if isinstance(task, DaskDataprocCreateClusterOperator)
    ]

    assert len(creates) >= 4
    for task in creates:
        assert validate_service_account(task.service_account) == "dask-nodes@local-project.iam.gserviceaccount.com"
        assert "params" not in task.service_account
