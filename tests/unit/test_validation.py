"""The one validation module: each check names the field, the value and what is allowed."""

from __future__ import annotations

import pytest

from airflow_dask_provider import validation
from airflow_dask_provider.exceptions import ClusterSpecError


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("3", 3), (3.0, 3), (0, 0), (10, 10)])
def test_a_whole_number_in_range_is_returned_as_an_int(value, expected):
    assert validation.whole_number("wait_count", value, 0, 10) == expected


@pytest.mark.parametrize("value", [True, 2.5, "2.5", "two", None, [2]])
def test_what_is_not_a_whole_number_is_refused_naming_the_range(value):
    with pytest.raises(ClusterSpecError) as info:
        validation.whole_number("wait_count", value, 1, 1000)

    assert (info.value.field, info.value.value) == ("wait_count", value)
    assert info.value.allowed == "must be a whole number from 1 to 1000"


def test_a_whole_number_out_of_range_names_the_range():
    with pytest.raises(ClusterSpecError, match=r"Invalid num_local_ssds=9: must be from 0 to 8\."):
        validation.whole_number("num_local_ssds", 9, 0, 8)


@pytest.mark.parametrize("value", [0, 2, "2", 1000])
def test_primary_workers_are_none_or_at_least_two(value):
    assert validation.primary_workers("num_workers", value) == int(value)


def test_one_primary_worker_is_refused():
    with pytest.raises(ClusterSpecError, match=r"num_workers=1: must be 0 \(single node\) or from 2 to 1000"):
        validation.primary_workers("num_workers", 1)


@pytest.mark.parametrize("value", [0, 1])
def test_where_no_single_node_is_possible_at_least_two_primary_workers_are_needed(value):
    with pytest.raises(ClusterSpecError, match=rf"worker_min_instances={value}: must be from 2 to 1000"):
        validation.primary_workers("worker_min_instances", value, single_node=False)


@pytest.mark.parametrize("value", [True, "soon", float("nan"), float("inf"), -1, 86401])
def test_seconds_out_of_range_or_not_numbers_are_refused(value):
    with pytest.raises(ClusterSpecError, match="must be seconds from 0 to 86400"):
        validation.seconds_in("cooldown_seconds", value, 0, 86400)


def test_seconds_accept_numeric_text():
    assert validation.seconds_in("cooldown_seconds", "2.5", 0, 86400) == 2.5


def test_one_string_where_a_list_belongs_is_refused_with_the_fix():
    with pytest.raises(ClusterSpecError, match=r"args='--x': must be a list of strings, not one string: write"):
        validation.string_list("args", "--x")


@pytest.mark.parametrize("job_id", ["etl-1_a", "x" * 100])
def test_valid_job_ids_pass(job_id):
    assert validation.validate_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", "a b", "x" * 101, "ü"])
def test_invalid_job_ids_name_the_rule(job_id):
    with pytest.raises(ClusterSpecError, match="must be 1 to 100 letters, digits"):
        validation.validate_job_id(job_id)


def test_the_cluster_spec_module_still_offers_the_checks_it_had():
    from airflow_dask_provider import cluster_spec

    for name in ("parse_duration", "format_duration", "validate_cluster_name", "validate_labels"):
        assert getattr(cluster_spec, name) is getattr(validation, name)
