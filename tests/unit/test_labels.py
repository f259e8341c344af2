"""Provenance and expiry labels follow Dataproc's label rules."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from airflow_dask_provider.cluster_spec import validate_cluster_name, validate_labels
from airflow_dask_provider.labels import (
    derived_cluster_name,
    describe_run,
    expiry_value,
    label_value,
    parse_expiry,
    provenance_labels,
    run_key,
)


def context(**ti):
    values = {"dag_id": "Sales ETL", "task_id": "group.Create-Cluster", "run_id": "manual__2026-01-02T03:04:05+00:00"}
    return {"ti": SimpleNamespace(**{**values, **ti})}


@pytest.mark.parametrize(
    "text, value",
    [
        ("Sales ETL", "sales-etl"),
        ("manual__2026-01-02T03:04:05+00:00", "manual__2026-01-02t03-04-05-00-00"),
        ("jane.doe@example.com", "jane-doe-example-com"),
        ("x" * 80, "x" * 63),
        ("a" * 62 + "-b", "a" * 62),
    ],
)
def test_values_are_sanitised_to_dataproc_rules(text, value):
    assert label_value(text) == value


def test_every_resource_says_who_made_it_and_until_when():
    labels = provenance_labels(context(), owner="Jane Doe", expiry=1767323045)

    assert labels == {
        "created-by": "airflow-dask-provider",
        "airflow-dag-id": "sales-etl",
        "airflow-task-id": "group-create-cluster",
        "airflow-run-id": "manual__2026-01-02t03-04-05-00-00",
        "airflow-run-key": run_key("Sales ETL", "manual__2026-01-02T03:04:05+00:00"),
        "owner": "jane-doe",
        "expiry": "20260102t030405z",
    }
    assert validate_labels(labels) == labels


def test_the_owner_defaults_to_airflows_default_owner():
    assert provenance_labels(context())["owner"] == "airflow"


def test_expiry_reads_back_from_its_label_or_from_epoch_seconds():
    now = int(time.time())

    assert parse_expiry(expiry_value(now)) == now
    assert parse_expiry("1767323045") == 1767323045
    assert parse_expiry("") is None and parse_expiry("next-week") is None


def test_more_labels_than_dataproc_allows_fail():
    from airflow_dask_provider.exceptions import ClusterSpecError

    with pytest.raises(ClusterSpecError, match="at most 32 labels"):
        validate_labels({f"k{i}": "v" for i in range(33)})


def named(dag_id="Sales ETL", run_id="manual__1", group=None, map_index=-1, task_id="t"):
    task = SimpleNamespace(task_group=SimpleNamespace(group_id=group))
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    return derived_cluster_name({"ti": ti, "task": task})


def test_every_task_of_a_group_in_one_run_derives_the_same_valid_cluster_name():
    name = named(group="etl", task_id="create")

    assert name == named(group="etl", task_id="delete")
    assert name.startswith("dask-sales-etl-etl-")
    assert validate_cluster_name(name) == name


def test_other_runs_groups_and_map_indexes_derive_other_names():
    names = {
        named(),
        named(run_id="manual__2"),
        named(group="etl"),
        named(group="other"),
        named(map_index=0),
        named(map_index=1),
        named(dag_id="Sales ETL 2"),
    }

    assert len(names) == 7


def test_a_derived_name_keeps_to_dataprocs_limit_with_long_ids():
    name = named(dag_id="a" * 250, group="outer.inner_group_with_a_very_long_name_" * 5)

    assert len(name) <= 51
    assert validate_cluster_name(name) == name


def test_the_run_key_is_whole_where_the_run_id_label_is_cut():
    long_run = "scheduled__" + "x" * 80

    assert run_key("etl", long_run + "1") != run_key("etl", long_run + "2")
    assert label_value(long_run + "1") == label_value(long_run + "2")


def test_a_resource_says_which_run_made_it():
    labels = provenance_labels(context(), owner="Jane Doe")

    assert describe_run(labels) == (
        "run manual__2026-01-02t03-04-05-00-00 of DAG sales-etl (task group-create-cluster, owner jane-doe)"
    )
    assert "no Airflow run" in describe_run({"team": "data"})
