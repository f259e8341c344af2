"""Operators of the provider. Importing them loads no Google, gRPC, protobuf or Dask module."""

from __future__ import annotations

from airflow_dask_provider.operators.cluster import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
)
from airflow_dask_provider.operators.job import DaskDataprocSubmitJobOperator

__all__ = [
    "DaskDataprocCreateClusterOperator",
    "DaskDataprocDeleteClusterOperator",
    "DaskDataprocSubmitJobOperator",
]
