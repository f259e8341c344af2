"""Triggers of the provider: waits that hold no Airflow worker slot."""

from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger, DaskDataprocJobTrigger

__all__ = ["DaskDataprocClusterTrigger", "DaskDataprocJobTrigger"]
