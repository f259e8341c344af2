"""One exception hierarchy: every error of the provider is a ``DaskDataprocError``, on Airflow 2 and 3."""

from __future__ import annotations

import inspect

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_dask_provider import exceptions
from airflow_dask_provider.exceptions import ClusterSpecError, ConfigurationError, DaskDataprocError


def provider_errors() -> list[type[BaseException]]:
    return [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == exceptions.__name__
    ]


@pytest.mark.parametrize("error", provider_errors(), ids=lambda error: error.__name__)
def test_every_error_of_the_provider_is_a_dask_dataproc_error(error):
    assert issubclass(error, DaskDataprocError)


def test_a_spec_error_fails_the_task_without_retries_and_is_a_value_error():
    error = ClusterSpecError("num_workers", 1, "must be 0 (single node) or from 2 to 1000")

    assert isinstance(error, DaskDataprocError)
    assert isinstance(error, AirflowFailException)
    assert isinstance(error, ValueError)
    assert str(error) == "Invalid num_workers=1: must be 0 (single node) or from 2 to 1000."
    assert (error.field, error.value, error.allowed) == ("num_workers", 1, "must be 0 (single node) or from 2 to 1000")


def test_a_setup_error_fails_the_task_without_retries_and_is_no_spec_error():
    error = ConfigurationError("project_id", None, "name the project in the connection")

    assert isinstance(error, DaskDataprocError)
    assert isinstance(error, AirflowFailException)
    assert not isinstance(error, ClusterSpecError)
    assert str(error) == "Invalid project_id=None: name the project in the connection."
