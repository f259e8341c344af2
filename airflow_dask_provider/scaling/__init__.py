"""Dask-aware scaling of a Dataproc cluster's secondary workers.

:mod:`~airflow_dask_provider.scaling.policy` decides (pure, no I/O), :mod:`~.scaler` observes the
Dask scheduler and the cluster and carries decisions out through the hooks, and :mod:`~.timeline`
records what happened as CSV and PNG. See ``README.md`` beside this file.
"""

from __future__ import annotations
