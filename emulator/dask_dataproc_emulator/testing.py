"""Start a Dataproc emulator for tests and scripts, and find processes it left behind.

Example::

    from dask_dataproc_emulator.testing import dask_processes, run_emulator

    with run_emulator(tmp_path / "emulator") as emulator:
        clusters = emulator.cluster_client()
        ...  # emulator.grpc_target, emulator.storage_url, emulator.data_dir, emulator.pid
    assert dask_processes(parent=emulator.pid) == []

:func:`point_google_dataproc_hooks` sends the Google provider's own Dataproc operators to an emulator.
:func:`unused_ports` gives ports for services a script starts by number (the local Airflow stack).

:func:`run_emulator` runs ``python -m dask_dataproc_emulator`` as a subprocess, so the
emulator's own shutdown path (SIGTERM: delete every cluster, exit 0) is what stops it. Its log goes
to ``DATA_DIR/emulator.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dask_dataproc_emulator.processes import tail, with_death_signal
from dask_dataproc_emulator.settings import DISCOVERY_FILE, MARKER_ENV, RESOURCE_ENV

if TYPE_CHECKING:
    from google.cloud import dataproc_v1, storage

#: The environment variable naming the emulator's gRPC ``host:port``, as the provider reads it.
EMULATOR_HOST_ENV = "DATAPROC_EMULATOR_HOST"
#: The Google provider's Dataproc client factories, and the clients they build (the async hook's
#: transport class comes from the synchronous client).
GOOGLE_HOOK_CLIENTS = {
    "get_cluster_client": "ClusterController",
    "get_job_client": "JobController",
    "get_template_client": "WorkflowTemplateService",
    "get_batch_client": "BatchController",
}

#: Seconds to wait for the emulator to listen, and for it to stop after SIGTERM.
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 60.0


#: Where the kernel takes the ports of ``bind(0)`` and of outgoing connections, when it does not say.
DEFAULT_EPHEMERAL_PORTS = (32768, 60999)
#: How many ports below the ephemeral range :func:`unused_ports` chooses from.
RESERVED_SPAN = 12000


class EmulatorProcessError(RuntimeError):
    """The emulator did not start, did not stop cleanly, or left processes behind."""


class EmulatorProcess(NamedTuple):
    """A process started by an emulator (Dask scheduler, Dask worker or job driver)."""

    pid: int
    emulator_pid: int
    #: ``projects/P/regions/R/clusters/C`` or ``projects/P/regions/R/jobs/J``.
    resource: str
    command: str


@dataclasses.dataclass(frozen=True)
class RunningEmulator:
    """Where a running emulator listens, with ready-made clients.

    :param grpc_target: ``127.0.0.1:PORT`` of the Dataproc gRPC API (plain, insecure gRPC).
    :param storage_url: ``http://127.0.0.1:PORT`` of the Cloud Storage JSON API subset.
    :param data_dir: the emulator's data directory; ``gs://B/O`` is ``data_dir / "gcs" / B / O``.
    :param pid: the emulator's process id (the ``parent`` of :func:`dask_processes`).
    :param log_file: the emulator's log.
    :param process: the emulator's subprocess (``process.wait()`` gives its exit code).
    """

    grpc_target: str
    storage_url: str
    data_dir: Path
    pid: int
    log_file: Path
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False, compare=False)

    def local_path(self, uri: str) -> Path:
        """Return the file behind a ``gs://`` URI."""
        return self.data_dir / "gcs" / uri.removeprefix("gs://")

    def cluster_credential(self, project_id: str, region: str, cluster_name: str) -> Path:
        """Return the file of a cluster's Dask TLS credential, as its processes use it."""
        from dask_dataproc_emulator.credentials import CREDENTIAL_FILE

        return self.data_dir / "clusters" / project_id / region / cluster_name / CREDENTIAL_FILE

    def cluster_security(self, project_id: str, region: str, cluster_name: str) -> Any:
        """Return the ``distributed.Security`` of a client of the cluster (None for a plain-TCP one)."""
        from dask_dataproc_emulator.credentials import security

        path = self.cluster_credential(project_id, region, cluster_name)
        return security(path) if path.exists() else None

    def _client(self, client_class: Any) -> Any:
        import grpc
        from google.auth.credentials import AnonymousCredentials

        transport = client_class.get_transport_class("grpc")(
            channel=grpc.insecure_channel(self.grpc_target), credentials=AnonymousCredentials()
        )
        return client_class(transport=transport)

    def cluster_client(self) -> dataproc_v1.ClusterControllerClient:
        """Return a new cluster client talking to the emulator."""
        from google.cloud import dataproc_v1

        return self._client(dataproc_v1.ClusterControllerClient)

    def job_client(self) -> dataproc_v1.JobControllerClient:
        """Return a new job client talking to the emulator."""
        from google.cloud import dataproc_v1

        return self._client(dataproc_v1.JobControllerClient)

    def autoscaling_client(self) -> dataproc_v1.AutoscalingPolicyServiceClient:
        """Return a new autoscaling policy client talking to the emulator."""
        from google.cloud import dataproc_v1

        return self._client(dataproc_v1.AutoscalingPolicyServiceClient)

    def storage_client(self, project: str = "emulator") -> storage.Client:
        """Return a Cloud Storage client talking to the emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.storage_url}
        )


def point_google_dataproc_hooks(grpc_target: str | None = None) -> None:
    """Point the Google provider's Dataproc hooks at an emulator, so its own operators run against it.

    The Google provider builds its Dataproc clients for ``REGION-dataproc.googleapis.com`` and has no
    setting for another endpoint. This replaces the client factories of its ``DataprocHook`` and
    ``DataprocAsyncHook`` (clusters, jobs, workflow templates, batches, and through them operations)
    with ones whose channel goes to the emulator; the operators, their requests, long-running
    operations, triggers and polling stay the Google provider's own. It changes the classes for the
    whole process: call it at the top of a DAG file run against the emulator.

    :param grpc_target: the emulator's ``host:port``; by default ``DATAPROC_EMULATOR_HOST``, read
        whenever a client is made.
    """
    import grpc
    from airflow.providers.google.cloud.hooks.dataproc import DataprocAsyncHook, DataprocHook
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import dataproc_v1

    def target() -> str:
        return grpc_target or os.environ[EMULATOR_HOST_ENV]

    def factory(client_class: Any) -> Any:
        def build(self: Any, region: str | None = None) -> Any:
            channel = grpc.insecure_channel(target())
            transport = client_class.get_transport_class("grpc")(channel=channel, credentials=AnonymousCredentials())
            return client_class(transport=transport)

        return build

    def async_factory(client_class: Any, sync_class: Any) -> Any:
        async def build(self: Any, region: str | None = None) -> Any:  # a coroutine: the channel joins the loop
            channel = grpc.aio.insecure_channel(target())
            transport_class = sync_class.get_transport_class("grpc_asyncio")
            return client_class(transport=transport_class(channel=channel, credentials=AnonymousCredentials()))

        return build

    for method, service in GOOGLE_HOOK_CLIENTS.items():
        sync_class = getattr(dataproc_v1, f"{service}Client")
        setattr(DataprocHook, method, factory(sync_class))
        setattr(DataprocAsyncHook, method, async_factory(getattr(dataproc_v1, f"{service}AsyncClient"), sync_class))


def ephemeral_port_range() -> tuple[int, int]:
    """Return the kernel's ephemeral port range (Linux's ``ip_local_port_range``), or the default."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_PORTS


def unused_ports(count: int, host: str = "127.0.0.1") -> tuple[int, ...]:
    """Return ``count`` different ports of ``host`` that nothing listens on, from outside the ephemeral range.

    A port from ``bind(0)`` lies in the ephemeral range, where the next process that binds port 0 (a
    Dask scheduler, an emulator, another test's server) or opens a connection may take it before the
    service it was meant for starts, which may be a minute later. Outside that range the kernel hands
    a port out only to whoever asks for it by number, so a port free now stays free for the service.
    """
    low, high = ephemeral_port_range()
    span = range(max(1024, low - RESERVED_SPAN), low) if low - 1024 >= 1000 else range(high + 1, 65536)
    probes: list[socket.socket] = []
    try:
        for port in random.sample(span, min(len(span), 50 * count)):
            probe = socket.socket()
            try:
                probe.bind((host, port))
            except OSError:
                probe.close()
                continue
            probes.append(probe)
            if len(probes) == count:
                return tuple(p.getsockname()[1] for p in probes)
    finally:
        for probe in probes:
            probe.close()
    raise OSError(f"no {count} unused ports of {host} between {span.start} and {span.stop - 1}")


def dask_processes(parent: int | None = None, *, wait: float = 0.0) -> list[EmulatorProcess]:
    """Return the live processes started by an emulator (any emulator when ``parent`` is None).

    They are recognised by the ``DASK_DATAPROC_EMULATOR_PID`` variable every child of the emulator
    carries, so a worker's nanny children and a job's subprocesses count too.

    :param parent: the emulator's pid.
    :param wait: seconds to keep looking until none is left (processes take a moment to exit).
    """
    import psutil

    deadline = time.monotonic() + wait
    while True:
        found = []
        for process in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if process.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                environ = process.environ()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            marker = environ.get(MARKER_ENV)
            if marker is None or (parent is not None and marker != str(parent)):
                continue
            command = " ".join(arg for arg in process.info["cmdline"] or [] if arg)
            found.append(EmulatorProcess(process.pid, int(marker), environ.get(RESOURCE_ENV, ""), command))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def _wait_for_discovery(process: subprocess.Popen[bytes], data_dir: Path, log_file: Path, timeout: float) -> dict:
    discovery = data_dir / DISCOVERY_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorProcessError(f"The emulator exited with code {process.returncode}:\n{tail(log_file, 30)}")
        try:
            content = json.loads(discovery.read_text())
            if content.get("pid") == process.pid:
                return content
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise EmulatorProcessError(f"The emulator did not listen within {timeout:g} s:\n{tail(log_file, 30)}")


def _stop(process: subprocess.Popen[bytes], timeout: float) -> list[str]:
    """SIGTERM the emulator, SIGKILL it after ``timeout``; return what went wrong."""
    problems = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            problems.append(f"the emulator did not stop within {timeout:g} s of SIGTERM and was killed")
            process.kill()
            process.wait()
    if process.returncode not in (0, -signal.SIGKILL) or problems:
        problems.append(f"the emulator exited with code {process.returncode}")
    leftovers = dask_processes(parent=process.pid, wait=5.0)
    for leftover in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(leftover.pid, signal.SIGKILL)
    if leftovers:
        problems.append(f"it left processes behind (now killed): {leftovers}")
    return problems


@contextlib.contextmanager
def run_emulator(
    data_dir: str | os.PathLike[str],
    *,
    port: int = 0,
    storage_port: int = 0,
    extra_args: Sequence[str] = (),
    time_scale: float | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    stop_timeout: float = STOP_TIMEOUT_SECONDS,
) -> Iterator[RunningEmulator]:
    """Run an emulator subprocess on 127.0.0.1 for the duration of the ``with`` block.

    On entry: start ``python -m dask_dataproc_emulator`` with the current interpreter and
    wait until it has written ``DATA_DIR/emulator.json``. On exit: SIGTERM it (it deletes every
    cluster and exits 0), SIGKILL it after ``stop_timeout``, then kill any process it left behind.
    If it failed to stop cleanly or left processes, :class:`EmulatorProcessError` is raised (unless the
    block itself raised). The subprocess gets SIGTERM from Linux if the calling *thread* dies, so
    call this from a thread that outlives the block (the main thread, typically).

    :param data_dir: the emulator's data directory (created if missing).
    :param port: gRPC port; 0 picks a free one.
    :param storage_port: storage HTTP port; 0 picks a free one.
    :param extra_args: more command-line options, e.g. ``["--worker-memory", "512MiB"]``.
    :param time_scale: emulated seconds per real second for the clusters' TTLs (``--time-scale``);
        60 makes a 10-minute ``idle_delete_ttl`` pass in 10 s.
    :param startup_timeout: seconds to wait for the emulator to listen.
    :param stop_timeout: seconds to wait for it to stop after SIGTERM.
    :raises EmulatorProcessError: it did not start, did not stop cleanly, or left processes behind.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DISCOVERY_FILE).unlink(missing_ok=True)
    log_file = data_dir / "emulator.log"
    argv = [
        sys.executable,
        "-m",
        "dask_dataproc_emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-port",
        str(storage_port),
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]
    if time_scale is not None:
        argv += ["--time-scale", str(time_scale)]
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            with_death_signal(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it in order
        )
    try:
        discovery = _wait_for_discovery(process, data_dir, log_file, startup_timeout)
    except BaseException:
        _stop(process, stop_timeout)
        raise
    running = RunningEmulator(
        grpc_target=discovery["grpc"],
        storage_url=discovery["storage"],
        data_dir=data_dir,
        pid=process.pid,
        log_file=log_file,
        process=process,
    )
    failed = False
    try:
        yield running
    except BaseException:
        failed = True
        raise
    finally:
        problems = _stop(process, stop_timeout)
        if problems and not failed:
            raise EmulatorProcessError(f"Emulator pid {process.pid}: {'; '.join(problems)}\n{tail(log_file, 30)}")
