"""Provenance and expiry labels follow Dataproc's label rules."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from airflow_dask_provider.cluster_spec import validate_labels
from airflow_dask_provider.labels import expiry_value, label_value, parse_expiry, provenance_labels


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
