"""Assemble the emulator: the gRPC services, the storage server and the process launcher."""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from dask_dataproc_emulator.autoscaling import AutoscalingService
from dask_dataproc_emulator.clusters import ClusterService
from dask_dataproc_emulator.jobs import JobService
from dask_dataproc_emulator.lifecycle import LifecycleEnforcer
from dask_dataproc_emulator.object_store import ObjectStore
from dask_dataproc_emulator.operations import Operations
from dask_dataproc_emulator.processes import Launcher
from dask_dataproc_emulator.refusals import CatchAll
from dask_dataproc_emulator.settings import DISCOVERY_FILE, LIFECYCLE_POLL_SECONDS, EmulatorSettings
from dask_dataproc_emulator.state import Store
from dask_dataproc_emulator.storage import StorageServer
from dask_dataproc_emulator.workflows import WorkflowTemplateService

log = logging.getLogger(__name__)


class Emulator:
    """One Dataproc emulator: ``start()`` it, read its addresses, ``stop()`` it.

    :param settings: where it listens, where its data goes, how it runs Dask.
    """

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.store = Store(settings)
        self.launcher = Launcher()
        self.operations = Operations(self.store)
        self.autoscaling = AutoscalingService(self.store)
        self.clusters = ClusterService(self.store, self.operations, self.launcher, self.autoscaling.policy_exists)
        self.jobs = JobService(self.store, self.operations, self.launcher)
        self.workflows = WorkflowTemplateService(self.store, self.operations, self.clusters, self.jobs)
        self.lifecycle = LifecycleEnforcer(
            self.store, self.clusters.delete_cluster, time_scale=settings.time_scale, interval=LIFECYCLE_POLL_SECONDS
        )
        self._grpc: grpc.Server | None = None
        self._storage: StorageServer | None = None
        self.grpc_port = 0

    @property
    def grpc_target(self) -> str:
        """Return ``host:port`` of the gRPC server."""
        return f"{self.settings.host}:{self.grpc_port}"

    @property
    def storage_url(self) -> str:
        """Return the base URL of the storage server."""
        assert self._storage is not None, "start the emulator first"
        return self._storage.url

    @property
    def discovery_file(self) -> Path:
        """Return the file that tells clients where the emulator listens."""
        return self.settings.data_dir / DISCOVERY_FILE

    def start(self) -> None:
        """Bind both servers and serve; write the discovery file."""
        settings = self.settings
        settings.gcs_dir.mkdir(parents=True, exist_ok=True)
        server = grpc.server(
            ThreadPoolExecutor(max_workers=settings.grpc_threads, thread_name_prefix="grpc"),
            options=[("grpc.so_reuseport", 0)],
        )
        services = (
            self.clusters.handler(),
            self.jobs.handler(),
            self.autoscaling.handler(),
            self.workflows.handler(),
            self.operations.handler(),
        )
        server.add_generic_rpc_handlers(services)
        self.grpc_port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        if not self.grpc_port:
            raise OSError(f"Cannot bind gRPC to {settings.host}:{settings.port}")
        storage_port = settings.storage_port
        if storage_port == 0 and settings.port:
            storage_port = self.grpc_port + 1
        objects = ObjectStore(settings.gcs_dir, settings.data_dir / ".uploads")
        self._storage = StorageServer(objects, settings.host, storage_port)
        # Last registration: the catch-all matches every method, so it must come after every served service.
        server.add_generic_rpc_handlers((CatchAll(services),))
        server.start()
        self._grpc = server
        self._storage.start()
        self.lifecycle.start()
        partial = self.discovery_file.with_suffix(".json.partial")
        partial.write_text(json.dumps({"grpc": self.grpc_target, "storage": self.storage_url, "pid": os.getpid()}))
        os.replace(partial, self.discovery_file)  # readers never see half a file

    def stop(self) -> None:
        """Stop every workflow, delete every cluster (stopping every Dask process and job), then stop serving."""
        log.info("Stopping: deleting every cluster")
        self.lifecycle.stop()
        self.workflows.shutdown()  # cancels their jobs and deletes their managed clusters
        self.clusters.shutdown()
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
        if self._storage is not None:
            self._storage.stop()
        self.launcher.close()
        self.discovery_file.unlink(missing_ok=True)
        log.info("Stopped")
