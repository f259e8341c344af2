"""Hooks of the provider; every network call lives here.

:class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook` talks to Dataproc and Cloud Storage,
:class:`~airflow_dask_provider.hooks.dask_scheduler.DaskSchedulerHook` (reached as the Dataproc hook's
``dask_scheduler``) to a cluster's Dask scheduler; :mod:`~airflow_dask_provider.hooks.resources` holds
the plain data both return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dask_scheduler import DaskSchedulerHook
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

__all__ = ["DaskDataprocHook", "DaskSchedulerHook"]


def __getattr__(name: str) -> Any:
    # Imported on first use: operators read the plain-data views in ``hooks.resources`` at DAG parse
    # time, which must not load the Google provider and its gRPC stack.
    if name == "DaskDataprocHook":
        from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

        return DaskDataprocHook
    if name == "DaskSchedulerHook":
        from airflow_dask_provider.hooks.dask_scheduler import DaskSchedulerHook

        return DaskSchedulerHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
