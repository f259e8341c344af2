"""A feature of an extra that is not installed fails with an error naming the extra to install."""

from __future__ import annotations

import pytest

from airflow_dask_provider.exceptions import DaskDataprocError, MissingExtraError
from airflow_dask_provider.optional import import_extra


def test_an_installed_module_is_returned():
    assert import_extra("json", extra="dask", feature="x").dumps([1]) == "[1]"


def test_a_missing_module_names_the_extra_the_feature_and_the_module():
    with pytest.raises(MissingExtraError) as raised:
        import_extra("no_such_module_xyz.sub", extra="timeline", feature="The scaling timeline's picture")

    message = str(raised.value)
    assert "The scaling timeline's picture needs no_such_module_xyz" in message
    assert "pip install 'airflow-dask-provider[timeline]'" in message
    # callers that guard an optional feature with `except ImportError` still catch it
    assert isinstance(raised.value, ImportError) and isinstance(raised.value, DaskDataprocError)
