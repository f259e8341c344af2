"""Run Dask on ephemeral Dataproc clusters from Airflow."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Return the provider description Airflow reads through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-dask-provider",
        "name": "Dask on Dataproc",
        "description": "Create autoscaling Dask clusters on ephemeral Dataproc clusters and run Dask jobs on them.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": ["airflow_dask_provider.hooks.dataproc"],
            }
        ],
        "operators": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": [
                    "airflow_dask_provider.operators.cluster",
                    "airflow_dask_provider.operators.job",
                    "airflow_dask_provider.operators.scaling",
                    "airflow_dask_provider.operators.autoscaling_policy",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": ["airflow_dask_provider.sensors.dataproc"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": ["airflow_dask_provider.triggers.dataproc"],
            }
        ],
        "extra-links": [
            "airflow_dask_provider.links.DaskDashboardLink",
            "airflow_dask_provider.links.DataprocClusterLink",
            "airflow_dask_provider.links.DataprocJobLink",
        ],
        "connection-types": [
            {
                "connection-type": "dask_dataproc",
                "hook-class-name": "airflow_dask_provider.hooks.dataproc.DaskDataprocHook",
            }
        ],
    }
