"""Hooks of the provider; every network call lives here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

__all__ = ["DaskDataprocHook"]


def __getattr__(name: str) -> Any:
    # Imported on first use: operators read the plain-data views in ``hooks.resources`` at DAG parse
    # time, which must not load the Google provider and its gRPC stack.
    if name == "DaskDataprocHook":
        from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

        return DaskDataprocHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
