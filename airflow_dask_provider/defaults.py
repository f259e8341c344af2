"""Every default the provider applies, in one place, named and documented.

The values follow the project's design documents (see "Cluster defaults" in docs/operators/clusters.md).
"""

from __future__ import annotations

#: Machine type of the master node, which runs the Dask scheduler and the job's driver.
MASTER_MACHINE_TYPE = "n2-standard-4"
#: Machine type of primary and secondary worker nodes, each running one Dask worker.
WORKER_MACHINE_TYPE = "n2-standard-4"
#: Primary workers. Dataproc needs 0 (single node) or at least MIN_PRIMARY_WORKERS.
NUM_WORKERS = 2
#: Fewest primary workers of a cluster that has any (Dataproc's rule; a single-node cluster has none),
#: and the largest count of primary or secondary workers accepted.
MIN_PRIMARY_WORKERS = 2
MAX_INSTANCES = 1000
#: Secondary workers, preemptible by default: the elastic part of the cluster.
NUM_SECONDARY_WORKERS = 0
SECONDARY_WORKER_TYPE = "preemptible"
#: Boot disks of every node.
BOOT_DISK_TYPE = "pd-balanced"
BOOT_DISK_SIZE_GB = 100
#: Local SSDs per worker, used by Dask as its spill directory.
NUM_LOCAL_SSDS = 1
#: Dataproc image; 2.1 is the oldest supported.
IMAGE_VERSION = "2.2-debian12"
MIN_IMAGE_VERSION = (2, 1)
#: Dask runtime on the nodes: "standalone" (systemd scheduler and workers) or "yarn" (dask-yarn).
DASK_RUNTIME = "standalone"
DASK_RUNTIMES = ("standalone", "yarn")
#: The node metadata key that tells the initialization action (and the provider) the runtime.
DASK_RUNTIME_METADATA_KEY = "dask-runtime"
#: Idle clusters are deleted after this many seconds (2 hours).
IDLE_DELETE_TTL_SECONDS = 2 * 3600
#: Clusters are deleted this long after their creation, busy or not (8 hours): the submit operator's
#: default job timeout, 6 hours, plus the cluster's start, retries and teardown (see docs/guides/cost-control.md).
AUTO_DELETE_TTL_SECONDS = 8 * 3600
#: How long the submit operator waits for a job whose task gives no ``timeout`` (6 hours,
#: ``[dask_dataproc] default_job_timeout``); the job is cancelled when the time is up.
JOB_TIMEOUT_SECONDS = 6 * 3600
#: Dataproc's allowed range for idle_delete_ttl and auto_delete_ttl.
MIN_TTL_SECONDS = 10 * 60
MAX_TTL_SECONDS = 14 * 24 * 3600
#: Timeout of each initialization action.
INIT_ACTION_TIMEOUT_SECONDS = 10 * 60
#: Dask scheduler port on the master, and the metadata keys that override where it is reached.
SCHEDULER_PORT = 8786
SCHEDULER_HOST_METADATA_KEY = "dask-scheduler-host"
SCHEDULER_PORT_METADATA_KEY = "dask-scheduler-port"
#: The node metadata key holding the gs:// URI of the cluster's Dask TLS credential: one PEM object,
#: the cluster's certificate (its own CA) then its private key. dask.sh copies it to the nodes; the
#: provider's own Dask clients read it with the connection's credentials.
TLS_URI_METADATA_KEY = "dask-tls-uri"
#: Metadata that lets a cluster's Dask run without TLS (value ``true``): dask.sh and the emulator honour it.
ALLOW_PLAINTEXT_METADATA_KEY = "dask-allow-plaintext"
#: Prefix, inside the cluster's config bucket, of the credentials the create operator makes; only
#: objects under it are deleted with their cluster.
CREDENTIALS_PREFIX = "airflow-dask-provider/credentials"
#: Path of the Dask dashboard behind Component Gateway (the init action's Knox route).
DASHBOARD_GATEWAY_PATH = "/gateway/default/dask/status"
#: Google's public Dask initialization action, used until a project stages its own.
PUBLIC_DASK_INIT_ACTION = "gs://goog-dataproc-initialization-actions-{region}/dask/dask.sh"
#: Label every cluster and job created by this provider carries.
CREATED_BY_LABEL = ("created-by", "airflow-dask-provider")
#: Prefix, inside the cluster's staging bucket, of files the provider uploads.
STAGING_PREFIX = "airflow-dask-provider/staging"
#: Waiting: first poll interval, largest interval, and growth factor between polls.
POLL_INITIAL_SECONDS = 1.0
POLL_MAXIMUM_SECONDS = 15.0
POLL_MULTIPLIER = 1.5
#: Largest interval between polls of a running job, so its driver output reaches the log within seconds.
JOB_POLL_MAXIMUM_SECONDS = 5.0
#: How often the task log gets a line of Dask progress (tasks done, workers, memory) while a job runs.
PROGRESS_INTERVAL_SECONDS = 10.0
#: A running job whose cluster has had no Dask worker this long is cancelled and its task fails
#: (``[dask_dataproc] no_worker_timeout``, the submit operator's ``no_worker_timeout``).
NO_WORKER_TIMEOUT_SECONDS = 5 * 60.0
#: Deferred waits end this long before the task's ``execution_timeout`` (at most), so the trigger,
#: not Airflow's own deferral timeout, ends the wait and the operator can cancel what it started.
DEFER_TIMEOUT_MARGIN_SECONDS = 30.0
#: How long a sensor or an operator without a timeout may stay deferred (7 days, Airflow's sensor default).
MAX_DEFER_SECONDS = 7 * 24 * 3600.0
#: How long create and delete wait by default (Dataproc clusters take 3 to 5 minutes to start).
CLUSTER_WAIT_TIMEOUT_SECONDS = 30 * 60
#: Where ``make emulator`` serves the local Dataproc emulator; the error of a missing connection names it.
LOCAL_EMULATOR_HOST = "127.0.0.1:8790"
#: How many lines of driver output a failed job's error shows.
DRIVER_TAIL_LINES = 40
#: How many of the last lines of driver output are searched for the exception that failed a job.
DRIVER_CAUSE_LINES = 400
#: The cluster's idle_delete_ttl and auto_delete_ttl take the ``[dask_dataproc]`` defaults when
#: they are left at this value (see :mod:`airflow_dask_provider.config`).
CONFIGURED = "default"
#: Label keys of the provider's provenance and expiry labels, on every cluster and job it creates.
DAG_ID_LABEL = "airflow-dag-id"
TASK_ID_LABEL = "airflow-task-id"
RUN_ID_LABEL = "airflow-run-id"
#: A digest of the DAG id and run id, whole where the run id label is cut to 63 characters: the run
#: that created a cluster owns it (see :func:`airflow_dask_provider.labels.run_key`).
RUN_KEY_LABEL = "airflow-run-key"
OWNER_LABEL = "owner"
EXPIRY_LABEL = "expiry"
#: A derived cluster name: ``dask-`` and the DAG id, cut to this many characters, then the task group
#: id, cut likewise, then a digest of the DAG, run, task group and map index (see
#: :func:`airflow_dask_provider.labels.derived_cluster_name`).
DERIVED_NAME_DAG_CHARS = 20
DERIVED_NAME_GROUP_CHARS = 12
#: Dataproc allows at most this many labels on a cluster or a job.
MAX_LABELS = 32
#: A cluster without auto_delete_ttl may be reaped this long after its creation (its expiry label).
DEFAULT_EXPIRY_SECONDS = 24 * 3600
#: The idle sensor: quiet time before a cluster counts as idle, and the longest pause between looks.
IDLE_QUIET_PERIOD_SECONDS = 30 * 60
IDLE_POKE_INTERVAL_SECONDS = 60.0
#: The scheduler's own idle signal over HTTP (``distributed.http.scheduler.api``), beside the dashboard.
CHECK_IDLE_PATH = "/api/v1/check_idle"
#: The reaper deletes a credential no live cluster names only once it is this old: a create stages the
#: credential moments before the cluster exists.
CREDENTIAL_SWEEP_GRACE_SECONDS = 3600
#: How long the reaper waits for the clusters it deletes to be gone.
REAPER_WAIT_TIMEOUT_SECONDS = 30 * 60
#: Per-user quotas (``[dask_dataproc] max_clusters_per_user`` and ``max_secondary_workers_per_user``):
#: live clusters and secondary workers one user may hold at once, after the design documents.
MAX_CLUSTERS_PER_USER = 3
MAX_SECONDARY_WORKERS_PER_USER = 3
#: Job properties that run the driver on the Python environment dask.sh installs on every node
#: (``/opt/dask``), so the driver has the cluster's dask and distributed; a job's own properties win.
DRIVER_PROPERTIES = {
    "spark.pyspark.python": "/opt/dask/bin/python",
    "spark.pyspark.driver.python": "/opt/dask/bin/python",
}
#: How long the provider keeps retrying a Dataproc or Cloud Storage endpoint that does not answer
#: (``[dask_dataproc] api_unreachable_timeout``) before it fails the task naming the endpoint.
API_UNREACHABLE_TIMEOUT_SECONDS = 60
#: Teardown (deleting a cluster, cancelling a job, deleting a credential) keeps trying this many times longer.
TEARDOWN_UNREACHABLE_FACTOR = 1.25
#: The last retry of an endpoint that does not answer starts at least this long before its budget ends,
#: so that the task, its own set-up included, has failed within the budget.
API_GIVE_UP_MARGIN_SECONDS = 5.0
#: Deadline of one Dataproc or Cloud Storage request (each retry is a new request).
API_CALL_TIMEOUT_SECONDS = 30.0
#: Deadline of one read that only informs the log (driver output); it is never retried.
INFORMATIVE_CALL_TIMEOUT_SECONDS = 10.0
#: Retries of a call that failed for a transient reason: first pause, longest pause and growth factor.
API_RETRY_INITIAL_SECONDS = 1.0
API_RETRY_MAXIMUM_SECONDS = 5.0
API_RETRY_MULTIPLIER = 2.0
#: Seconds to wait for a connection to a Dask scheduler from Airflow (scaling, retiring workers).
SCHEDULER_CONNECT_TIMEOUT_SECONDS = 30.0
#: Dataproc's defaults of an autoscaling policy, filled in when a stored policy leaves them out.
POLICY_COOLDOWN_SECONDS = 120
POLICY_WEIGHT = 1
#: Seconds after the start of a job at which its first progress line is due.
FIRST_PROGRESS_SECONDS = 3.0
#: The autoscale operator: how long it waits for the watched job to be submitted, how many checks in
#: a row may fail (scheduler or API unreachable) before the task fails, and how long the final shrink may take.
SCALING_JOB_START_TIMEOUT_SECONDS = 600.0
SCALING_MAX_FAILED_CHECKS = 10
SCALING_FINAL_SHRINK_TIMEOUT_SECONDS = 300.0
#: How long before its DAG run the audit log entry of a trigger may be written (Airflow 2's requesting user).
TRIGGER_LOG_WINDOW_SECONDS = 5 * 60
#: How many job ids one submit task instance may use: one more each time an earlier try's job failed.
MAX_JOB_ATTEMPTS = 100
#: The Dask-aware scaling rule (the autoscale operator): seconds between two checks of the scheduler's load,
#: checks in a row that must ask for fewer workers before any are removed (distributed's
#: ``distributed.adaptive.wait-count`` is 3 as well), seconds after a resize before the next one (Dataproc's
#: own policies allow 2 min to 1 day; a Dask-aware scaler reacts to the scheduler's queue, so seconds suffice),
#: seconds the load must have asked for fewer workers before any are removed, and the longest cooldown and
#: scale-down delay accepted (one day, as Dataproc's cooldown).
SCALING_POKE_INTERVAL_SECONDS = 2.0
SCALING_WAIT_COUNT = 3
SCALING_COOLDOWN_PERIOD_SECONDS = 10.0
SCALING_SCALE_DOWN_DELAY_SECONDS = 30.0
SCALING_MAX_SECONDS = 86400.0
#: Seconds Dataproc gives the nodes a resize removes to finish (``graceful_decommission_timeout``).
GRACEFUL_DECOMMISSION_TIMEOUT_SECONDS = 120.0
#: Dataproc's bounds and defaults of an autoscaling policy's cooldown and graceful decommission timeout.
POLICY_COOLDOWN_BOUNDS_SECONDS = (2 * 60, 24 * 3600)
POLICY_COOLDOWN_DEFAULT = "2m"
POLICY_DECOMMISSION_BOUNDS_SECONDS = (0, 24 * 3600)
POLICY_DECOMMISSION_DEFAULT = "1h"
