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
                "python-modules": [
                    "airflow_dask_provider.hooks.dataproc",
                    "airflow_dask_provider.hooks.dask_scheduler",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": [
                    "airflow_dask_provider.operators.cluster",
                    "airflow_dask_provider.operators.delete_cluster",
                    "airflow_dask_provider.operators.job",
                    "airflow_dask_provider.operators.scaling",
                    "airflow_dask_provider.operators.autoscaling_policy",
                    "airflow_dask_provider.operators.reaper",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": ["airflow_dask_provider.sensors.dataproc", "airflow_dask_provider.sensors.idle"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Dask on Dataproc",
                "python-modules": ["airflow_dask_provider.triggers.dataproc", "airflow_dask_provider.triggers.idle"],
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
        "config": {
            "dask_dataproc": {
                "description": "Ceilings and defaults of cluster TTLs, the orphan reaper's scope and the cost line's prices "
                "of the Dask on Dataproc provider.",
                "options": {
                    "default_idle_delete_ttl": {
                        "description": (
                            "Idle-delete TTL of a cluster whose task gives none: Dataproc deletes the cluster after "
                            "this long without a running job (lowered to max_idle_delete_ttl). Every cluster the "
                            "provider creates has one."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "1h",
                        "default": "2h",
                    },
                    "max_idle_delete_ttl": {
                        "description": (
                            "Largest idle-delete TTL a task may ask for; a larger one fails before any API call. "
                            "Empty: Dataproc's own maximum, 14 days."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "4h",
                        "default": "",
                    },
                    "default_auto_delete_ttl": {
                        "description": (
                            "Maximum age of a cluster whose task gives none (auto_delete_ttl): Dataproc deletes the "
                            "cluster this long after its creation, busy or not, so a cluster whose job never ends "
                            "is deleted even when Airflow is gone (lowered to max_auto_delete_ttl). Empty: none, "
                            "unless max_auto_delete_ttl is set."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "12h",
                        "default": "8h",
                    },
                    "default_job_timeout": {
                        "description": (
                            "How long the submit operator waits for a job whose task gives no timeout; the "
                            "job is cancelled when the time is up. Empty: no limit but the task's "
                            "execution_timeout."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "2h",
                        "default": "6h",
                    },
                    "max_auto_delete_ttl": {
                        "description": (
                            "Largest maximum age (auto_delete_ttl) a task may ask for. When set, every cluster gets "
                            "one: the task's, else default_auto_delete_ttl, else this value; a task that asks for "
                            "none fails."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "1d",
                        "default": "",
                    },
                    "default_expiry": {
                        "description": (
                            "The orphan reaper may delete a cluster this long after its creation (the cluster's "
                            "expiry label) when the cluster has no auto_delete_ttl; with one, the expiry is its end "
                            "of life."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "12h",
                        "default": "1d",
                    },
                    "reaper_projects": {
                        "description": (
                            "Comma-separated projects the dask_orphan_reaper DAG looks in. Empty: the connection's "
                            "project."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "analytics-prod,analytics-dev",
                        "default": "",
                    },
                    "reaper_regions": {
                        "description": "Comma-separated Dataproc regions the dask_orphan_reaper DAG looks in.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "europe-west1,us-central1",
                        "default": "",
                    },
                    "price_table": {
                        "description": (
                            "Prices for the cost line of the delete operator: a path to a JSON file, or a JSON "
                            "object, merged over the built-in table (see airflow_dask_provider.cost). Empty: the "
                            "built-in list prices."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/home/airflow/gcs/data/dataproc_prices.json",
                        "default": "",
                    },
                    "max_clusters_per_user": {
                        "description": (
                            "Live Dask clusters one user (who triggered the run, else the DAG owner) may "
                            "hold at once in a project and region; a create over it fails before any API "
                            "call. Empty: no limit."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "5",
                        "default": "3",
                    },
                    "max_secondary_workers_per_user": {
                        "description": (
                            "Secondary (preemptible) workers one user may hold at once, over all their "
                            "live clusters in a project and region. Empty: no limit."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "6",
                        "default": "3",
                    },
                    "default_service_account": {
                        "description": (
                            "Service account of the nodes of a cluster whose task names none (service_account). "
                            "Empty: such a create fails before any API call, unless allow_default_service_account is True."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "dask-nodes@my-project.iam.gserviceaccount.com",
                        "default": "",
                    },
                    "allow_default_service_account": {
                        "description": (
                            "Let a cluster with no service_account and no default_service_account run as the Compute Engine "
                            "default service account (often a project editor, with the cloud-platform scope). Off by default."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "True",
                        "default": "False",
                    },
                    "staging_bucket": {
                        "description": (
                            "Bucket the create operator stages the provider's initialization actions in "
                            "when the cluster spec names no config_bucket. Empty: the region's Dataproc "
                            "staging bucket, else one the provider creates."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "my-team-dataproc-staging",
                        "default": "",
                    },
                    "api_unreachable_timeout": {
                        "description": (
                            "How long a task keeps retrying a Dataproc or Cloud Storage endpoint that does "
                            "not answer (each retry is logged) before it fails naming the endpoint and the "
                            "last error; a teardown (deleting a cluster, cancelling a job) keeps trying a "
                            "quarter longer. Seconds or text such as 2m."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "2m",
                        "default": "60",
                    },
                    "no_worker_timeout": {
                        "description": (
                            "A running Dask job whose cluster has had no Dask worker this long (all crashed, "
                            "preempted or killed) is cancelled and its task fails, for a submit task that gives "
                            "no no_worker_timeout. 0 turns the check off; empty: 5m."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "10m",
                        "default": "5m",
                    },
                },
            }
        },
    }
