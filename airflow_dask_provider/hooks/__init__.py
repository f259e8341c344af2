"""Hooks of the provider; every network call lives here."""

from __future__ import annotations

from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

__all__ = ["DaskDataprocHook"]
