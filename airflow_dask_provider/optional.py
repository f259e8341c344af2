"""Features behind the provider's extras, imported where they are used.

The provider's core is what DAG parsing, the cluster and job operators, the sensors and the
triggers need. A feature that needs more names the extra that brings it:

- ``dask``: a Dask client of the cluster (the Dask-aware autoscaler, worker retirement);
- ``timeline``: the autoscaler's timeline picture (matplotlib);
- ``jobs``: the job library's libraries, to run its jobs locally (on Dataproc the init action
  installs them on the nodes).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from airflow_dask_provider.exceptions import MissingExtraError

#: The distribution the extras belong to.
DISTRIBUTION = "airflow-dask-provider"


def import_extra(module: str, *, extra: str, feature: str) -> ModuleType:
    """Return ``module`` imported, or raise :class:`MissingExtraError` naming ``extra`` and ``feature``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{feature} needs {module.split('.')[0]}, which is not installed: "
            f"pip install '{DISTRIBUTION}[{extra}]' ({error})"
        ) from error
