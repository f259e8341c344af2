"""Every default of the emulator, in one place, named and documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

#: Interface the emulator binds to. Loopback only: the emulator has no authentication at all.
HOST = "127.0.0.1"
#: Threads that serve gRPC calls.
GRPC_THREADS = 16
#: Dask threads per worker process (``dask worker --nthreads``).
WORKER_THREADS = 1
#: Memory limit per Dask worker process (``dask worker --memory-limit``).
WORKER_MEMORY_LIMIT = "1GiB"
#: Primary workers of a cluster whose ``worker_config.num_instances`` is unset: Dataproc's default.
DEFAULT_PRIMARY_WORKERS = 2
#: Software property that allows a single-node cluster (no primary workers), as on Dataproc.
ALLOW_ZERO_WORKERS_PROPERTY = "dataproc:dataproc.allow.zero.workers"
#: Seconds a cluster may take to have its scheduler and every worker up before it goes to ERROR.
CLUSTER_START_TIMEOUT_SECONDS = 120.0
#: Seconds between SIGTERM and SIGKILL when a Dask process or a job's driver is stopped.
STOP_GRACE_SECONDS = 10.0
#: Seconds a Dask worker may take to hand its data over when a resize retires it.
RETIRE_TIMEOUT_SECONDS = 60.0
#: Seconds between two looks at a starting process (scheduler file, worker count).
STARTUP_POLL_SECONDS = 0.2
#: Bucket names Dataproc would create when a cluster names none; ``{region}`` is filled in.
CONFIG_BUCKET = "dataproc-staging-{region}-emulator"
TEMP_BUCKET = "dataproc-temp-{region}-emulator"
#: Path prefix the Dask dashboard is served under, as behind Component Gateway's Knox route.
DASHBOARD_PREFIX = "/gateway/default/dask"
#: ``config.endpoint_config.http_ports`` key of the dashboard URL.
DASHBOARD_PORT_NAME = "Dask Dashboard"
#: Metadata keys that tell clients where the scheduler listens (the provider's contract).
SCHEDULER_HOST_METADATA_KEY = "dask-scheduler-host"
SCHEDULER_PORT_METADATA_KEY = "dask-scheduler-port"
#: Metadata key of the gs:// URI of the cluster's Dask TLS credential, and the one that opts out of TLS.
TLS_URI_METADATA_KEY = "dask-tls-uri"
ALLOW_PLAINTEXT_METADATA_KEY = "dask-allow-plaintext"
#: Environment variables set on every process the emulator starts: the emulator's pid, and the
#: resource name of the cluster or job the process belongs to.
#: :func:`dask_dataproc_emulator.testing.dask_processes` finds leftovers by them.
MARKER_ENV = "DASK_DATAPROC_EMULATOR_PID"
RESOURCE_ENV = "DASK_DATAPROC_EMULATOR_RESOURCE"
#: Name of the discovery file written into the data directory once the emulator listens.
DISCOVERY_FILE = "emulator.json"
#: How many emulated seconds pass per real second for ``idle_delete_ttl``, ``auto_delete_ttl`` and
#: ``auto_delete_time`` (60: a 10-minute TTL passes in 10 s). Nothing else is scaled.
TIME_SCALE = 1.0
#: Real seconds between two looks for clusters whose TTL has passed.
LIFECYCLE_POLL_SECONDS = 0.5
#: ``distributed.scheduler.http.routes`` of every scheduler: distributed's defaults plus its optional
#: HTTP API (``/api/v1/check_idle``, ...), which the provider's idle sensor reads.
SCHEDULER_HTTP_ROUTES = (
    "distributed.http.scheduler.prometheus",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
    "distributed.http.scheduler.api",
)


@dataclasses.dataclass(frozen=True)
class EmulatorSettings:
    """How one emulator runs.

    :param data_dir: where buckets (``gcs/``), clusters (``clusters/``) and jobs (``jobs/``) live.
    :param host: interface of both servers.
    :param port: gRPC port; 0 picks a free one.
    :param storage_port: storage HTTP port; 0 picks a free one.
    :param worker_threads: ``--nthreads`` of every Dask worker.
    :param worker_memory_limit: ``--memory-limit`` of every Dask worker.
    :param worker_nanny: run Dask workers under a nanny (slower to start, allows ``Client.restart``).
    :param start_timeout: seconds a cluster may take to start.
    :param stop_grace: seconds between SIGTERM and SIGKILL.
    :param grpc_threads: threads serving gRPC.
    :param time_scale: emulated seconds per real second for the clusters' TTLs.
    """

    data_dir: Path
    host: str = HOST
    port: int = 0
    storage_port: int = 0
    worker_threads: int = WORKER_THREADS
    worker_memory_limit: str = WORKER_MEMORY_LIMIT
    worker_nanny: bool = False
    start_timeout: float = CLUSTER_START_TIMEOUT_SECONDS
    stop_grace: float = STOP_GRACE_SECONDS
    grpc_threads: int = GRPC_THREADS
    time_scale: float = TIME_SCALE

    @property
    def gcs_dir(self) -> Path:
        """Return the directory that holds one subdirectory per bucket."""
        return self.data_dir / "gcs"
