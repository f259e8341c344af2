"""Files that ship inside the package: the Dask job scripts of ``jobs/``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def job_script(name: str) -> str:
    """Return the local path of a bundled Dask job script, such as ``"csv_to_parquet.py"``.

    Pass it as ``main`` of :class:`~airflow_dask_provider.operators.DaskDataprocSubmitJobOperator`:
    the operator stages it into the cluster's bucket.
    """
    path = files("airflow_dask_provider.jobs").joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"No bundled job script named {name!r}")
    return str(path)


def is_job_script(path: str) -> bool:
    """Whether ``path`` is a local path of one of the bundled job scripts (what :func:`job_script` returns)."""
    if "://" in path:
        return False
    folder = Path(str(files("airflow_dask_provider.jobs"))).resolve()
    return Path(path).resolve().parent == folder and Path(path).suffix == ".py"
