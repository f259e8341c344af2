"""The real Dask processes behind one emulated cluster: a scheduler and one worker per node.

The scheduler plays the master node (``dask scheduler``, as the Dask initialization action runs it),
each worker a worker node (``dask worker``, named after the node's instance name). Every process runs
the emulator's own interpreter, listens on the emulator's host only, and logs to a file in the
cluster's directory. Workers leave by retirement through the scheduler, so their data moves to the
remaining workers before the process stops. If the emulator dies, Linux kills these processes with
SIGKILL rather than SIGTERM: a Dask worker that gets SIGTERM while its scheduler closes too can hang in
its own shutdown for good.

The scheduler also serves distributed's optional HTTP API (``/api/v1/check_idle``, ...) beside its
dashboard, which the provider's idle sensor reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dask_dataproc_emulator import credentials, processes
from dask_dataproc_emulator.errors import ClusterStartError, OperationCancelledError
from dask_dataproc_emulator.settings import (
    DASHBOARD_PREFIX,
    SCHEDULER_HTTP_ROUTES,
    STARTUP_POLL_SECONDS,
    EmulatorSettings,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SchedulerInfo:
    """Where a running scheduler listens."""

    address: str
    host: str
    port: int
    dashboard_port: int


def scheduler_call(
    address: str, method: str, *, timeout: float, connection_args: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """Call one RPC of the Dask scheduler at ``address`` and return its answer.

    :param connection_args: a client's connection arguments (its TLS context); None for plain TCP.
    """
    from distributed.core import rpc  # imported on first use: it costs seconds at start-up

    async def call() -> Any:
        async with rpc(address, timeout=timeout, connection_args=connection_args or {}) as remote:
            return await getattr(remote, method)(**kwargs)

    return asyncio.run(asyncio.wait_for(call(), timeout))


class DaskCluster:
    """Start, resize and stop the Dask processes of one cluster.

    :param name: the cluster's name, for logs.
    :param resource: the cluster's resource name, set on its processes.
    :param directory: the cluster's directory; logs, the scheduler file and worker spill go there.
    :param launcher: starts every process (see :mod:`dask_dataproc_emulator.processes`).
    :param settings: worker threads, memory limit, nanny, stop grace.

    Set :attr:`credential` (see :mod:`.credentials`) before starting the scheduler: every process
    then speaks ``tls://`` with that credential and requires it of its peers.
    """

    def __init__(
        self,
        *,
        name: str,
        resource: str,
        directory: Path,
        launcher: processes.Launcher,
        settings: EmulatorSettings,
    ):
        self.name = name
        self.resource = resource
        self.directory = directory
        self.launcher = launcher
        self.settings = settings
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.info: SchedulerInfo | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        #: The cluster's TLS credential file; None runs plain TCP.
        self.credential: Path | None = None
        self._connection_args: dict[str, Any] | None = None
        self.closing = threading.Event()
        self._lock = threading.Lock()

    # -- starting ---------------------------------------------------------------------------------

    def _spawn(self, argv: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.directory / log_name).open("ab") as log_file:
            return self.launcher.spawn(
                argv,
                resource=self.resource,
                cwd=self.directory,
                env=env if env is not None else os.environ,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                death_signal=signal.SIGKILL,
            )

    def _check_running(self, process: subprocess.Popen[bytes], what: str, log_name: str) -> None:
        if self.closing.is_set():
            raise OperationCancelledError(f"Cluster {self.name} is being deleted")
        if process.poll() is not None:
            output = processes.tail(self.directory / log_name, 10)
            raise ClusterStartError(f"{what} exited with code {process.returncode} while starting:\n{output}")

    def start_scheduler(self, *, deadline: float) -> SchedulerInfo:
        """Start the scheduler and return where it listens once it has written its scheduler file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.directory / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        host = self.settings.host
        argv = [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--protocol",
            "tls" if self.credential else "tcp",
            "--host",
            host,
            "--port",
            "0",
            "--dashboard-address",
            f"{host}:0",
            "--dashboard-prefix",
            DASHBOARD_PREFIX,
            "--scheduler-file",
            str(scheduler_file),
            *credentials.process_flags(self.credential),
        ]
        with self._lock:
            if self.closing.is_set():
                raise OperationCancelledError(f"Cluster {self.name} is being deleted")
            routes = {"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": repr(list(SCHEDULER_HTTP_ROUTES))}
            self.scheduler = self._spawn(argv, "scheduler.log", env={**os.environ, **routes})
        while True:
            self._check_running(self.scheduler, "The Dask scheduler", "scheduler.log")
            try:
                content = json.loads(scheduler_file.read_text())
                address = content["address"]
                dashboard_port = int(content["services"]["dashboard"])
                break
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise ClusterStartError("The Dask scheduler did not write its scheduler file in time")
            time.sleep(STARTUP_POLL_SECONDS)
        port = int(address.rsplit(":", 1)[1])
        self.info = SchedulerInfo(address=address, host=host, port=port, dashboard_port=dashboard_port)
        log.info("Cluster %s: scheduler at %s, dashboard port %s", self.name, address, dashboard_port)
        return self.info

    def add_workers(self, names: list[str], *, deadline: float) -> None:
        """Start one worker per instance name and wait until the scheduler knows them all."""
        if not names:
            return
        assert self.info is not None, "start the scheduler first"
        with self._lock:
            for name in names:
                if self.closing.is_set():
                    raise OperationCancelledError(f"Cluster {self.name} is being deleted")
                self.workers[name] = self._spawn(self._worker_argv(name), f"{name}.log")
        pending = set(names)
        while pending:
            for name in pending:
                self._check_running(self.workers[name], f"Dask worker {name}", f"{name}.log")
            try:
                pending -= set(self.worker_names(timeout=5))
            except Exception as err:  # the scheduler may not accept connections yet
                log.debug("Cluster %s: scheduler not answering yet: %s", self.name, err)
            if pending and time.monotonic() > deadline:
                raise ClusterStartError(f"Dask workers {sorted(pending)} did not join the scheduler in time")
            if pending:
                time.sleep(STARTUP_POLL_SECONDS)
        log.info("Cluster %s: workers %s joined", self.name, names)

    def _worker_argv(self, name: str) -> list[str]:
        assert self.info is not None
        return [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            self.info.address,
            "--name",
            name,
            "--host",
            self.settings.host,
            "--nthreads",
            str(self.settings.worker_threads),
            "--memory-limit",
            self.settings.worker_memory_limit,
            "--no-dashboard",
            "--local-directory",
            str(self.directory / name),
            "--nanny" if self.settings.worker_nanny else "--no-nanny",
            *credentials.process_flags(self.credential),
        ]

    # -- asking the scheduler ---------------------------------------------------------------------

    def connection_args(self) -> dict[str, Any]:
        """Return the emulator's connection arguments as a client of this cluster, made once: the
        TLS context loads the credential file, and a starting cluster is asked every 0.2 s."""
        if self._connection_args is None:
            security = credentials.security(self.credential)
            self._connection_args = security.get_connection_args("client") if security else {}
        return self._connection_args

    def worker_names(self, *, timeout: float = 10) -> list[str]:
        """Return the names of the workers the scheduler knows."""
        assert self.info is not None
        identity = scheduler_call(
            self.info.address, "identity", timeout=timeout, connection_args=self.connection_args()
        )
        return [str(worker.get("name")) for worker in identity["workers"].values()]

    # -- stopping ---------------------------------------------------------------------------------

    def retire_workers(self, names: list[str], *, timeout: float) -> None:
        """Retire workers through the scheduler (their data moves to others), then stop their processes."""
        if not names:
            return
        if self.info is not None:
            try:
                retired = scheduler_call(
                    self.info.address,
                    "retire_workers",
                    timeout=timeout,
                    connection_args=self.connection_args(),
                    names=names,
                    close_workers=True,
                    remove=True,
                )
                log.info("Cluster %s: retired %s", self.name, sorted(w.get("name") for w in retired.values()))
            except Exception as err:  # the processes are stopped anyway; the data may be lost
                log.warning("Cluster %s: retiring %s failed (%r); stopping them", self.name, names, err)
        with self._lock:
            leaving = {name: self.workers.pop(name) for name in names if name in self.workers}
        self._stop_all(leaving, exiting=True)

    def _stop_all(self, children: dict[str, subprocess.Popen[bytes]], *, exiting: bool = False) -> None:
        """Stop processes in parallel; ``exiting`` ones get the grace period to exit before SIGTERM.

        (A worker closed by the scheduler that gets SIGTERM while closing can hang until SIGKILL.)
        """
        grace = self.settings.stop_grace

        def stop(name: str, process: subprocess.Popen[bytes]) -> None:
            if exiting:
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            processes.stop(process, grace=grace, name=f"{self.name}/{name}")

        if not children:
            return
        with ThreadPoolExecutor(max_workers=len(children)) as pool:
            for name, process in children.items():
                pool.submit(stop, name, process)

    def stop(self, *, final: bool = True) -> None:
        """Stop every worker, then the scheduler (SIGTERM, then SIGKILL after the grace period).

        :param final: the cluster is being deleted: a start under way stops at its next step, and none
            may follow. False (StopCluster) leaves the cluster startable again: :meth:`start_scheduler`
            then :meth:`add_workers` bring up new processes, with the same credential and worker names.
        """
        with self._lock:
            if final:
                self.closing.set()
            workers, self.workers = self.workers, {}
            scheduler, self.scheduler = self.scheduler, None
            self.info = None
        self._stop_all(workers)
        if scheduler is not None:
            processes.stop(scheduler, grace=self.settings.stop_grace, name=f"{self.name}/scheduler")
        log.info("Cluster %s: Dask processes stopped", self.name)
