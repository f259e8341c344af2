"""Run one job's driver: a plain Python script submitted as a pyspark job, on the cluster's "master".

The driver runs ``sys.executable MAIN ARGS...`` in a working directory of its own under
``DATA_DIR/jobs/``, with ``DASK_SCHEDULER_ADDRESS`` set to the cluster's scheduler and
``PYTHONUNBUFFERED=1``. ``gs://`` arguments become local paths (see
:mod:`dask_dataproc_emulator.uris`); ``file_uris`` and ``python_file_uris`` are copied into the
working directory, which is on ``PYTHONPATH`` with any ``.zip``/``.egg`` among them; properties
``spark.executorEnv.X`` and ``spark.yarn.appMasterEnv.X`` become environment variables ``X``.
Standard output and standard error both go, as written, to the driver output object
``.../driveroutput.000000000``. Once the driver exits, whatever is left of its process group is killed.
States: PENDING -> SETUP_DONE -> RUNNING -> DONE | ERROR | CANCELLED (via CANCEL_PENDING, CANCEL_STARTED).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from google.cloud import dataproc_v1

from dask_dataproc_emulator import credentials, processes
from dask_dataproc_emulator.errors import EmulatorError
from dask_dataproc_emulator.names import job_path
from dask_dataproc_emulator.processes import Launcher
from dask_dataproc_emulator.state import JobRecord, JobState, Store, clone
from dask_dataproc_emulator.uris import local_path, rewrite_arg

log = logging.getLogger(__name__)

#: Property prefixes whose keys become environment variables of the driver.
ENV_PROPERTY_PREFIXES = ("spark.executorEnv.", "spark.yarn.appMasterEnv.")
#: Bytes of standard error kept to quote the last line in a failed job's details.
STDERR_TAIL_BYTES = 8192


class _SetupError(Exception):
    """The job cannot start (a missing file); its message becomes the job's details."""


class JobRunner:
    """Take one job from PENDING to a final state.

    :param store: the emulator's state (the job's record changes under its lock).
    :param record: the job.
    :param launcher: starts the driver.
    :param scheduler_address: the cluster's Dask scheduler, for ``DASK_SCHEDULER_ADDRESS``.
    :param credential: the cluster's Dask TLS credential file, which the driver's Dask configuration
        names as Dataproc's ``/etc/dask/config.yaml`` does (None: plain TCP).
    :param driver_output: the local file of the first driver output chunk.
    :param on_finish: called (outside the lock) once the job has its final state.
    """

    def __init__(
        self,
        *,
        store: Store,
        record: JobRecord,
        launcher: Launcher,
        scheduler_address: str,
        credential: Path | None = None,
        driver_output: Path,
        on_finish: Callable[[JobRecord], None],
    ) -> None:
        self.store = store
        self.record = record
        self.launcher = launcher
        self.scheduler_address = scheduler_address
        self.credential = credential
        self.driver_output = driver_output
        self.on_finish = on_finish
        self._process: subprocess.Popen[bytes] | None = None
        #: Why the job is being stopped: ("cancel", "") or ("terminate", details); None if it is not.
        self._stop_reason: tuple[str, str] | None = None
        self._stderr_tail = b""
        self._thread = threading.Thread(target=self._main, name=f"job-{record.key[2]}", daemon=True)

    def start(self) -> None:
        """Run the job in a background thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the job has its final state."""
        self._thread.join(timeout)

    # -- stopping, called from other threads ---------------------------------------------------------

    def cancel(self) -> dataproc_v1.Job:
        """Cancel the job (CancelJob): return it CANCEL_PENDING; it is CANCELLED once the driver is gone."""
        with self.store.lock:
            if self.record.done:  # it ended meanwhile: nothing to cancel
                return clone(self.record.job)
            if self._stop_reason is None:
                self._stop_reason = ("cancel", "")
            self.record.set_state(JobState.CANCEL_PENDING)
            pending = clone(self.record.job)
            process = self._process
        if process is not None:
            self._stop_driver(process)
        return pending

    def terminate(self, reason: str) -> None:
        """Stop the job for ``reason`` (its cluster is deleted); it ends in ERROR with that reason."""
        with self.store.lock:
            if self._stop_reason is None:
                self._stop_reason = ("terminate", reason)
            process = self._process
        if process is not None:
            self._stop_driver(process)

    def _stop_driver(self, process: subprocess.Popen[bytes]) -> None:
        with self.store.lock:
            if self.record.state == JobState.CANCEL_PENDING:
                self.record.set_state(JobState.CANCEL_STARTED)
        processes.stop_later(process, grace=self.store.settings.stop_grace, name=f"job {self.record.key[2]}")

    # -- the job's life ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        except Exception as err:  # never leave a job active because of an emulator bug
            log.exception("Job %s failed in the emulator", job_path(self.record.key))
            self._end(JobState.ERROR, f"Dataproc emulator error: {err!r}")

    def _run(self) -> None:
        try:
            argv, env, workdir = self._setup()
        except (_SetupError, EmulatorError) as err:
            self._end(JobState.ERROR, str(err))
            return
        with self.store.lock:
            stopped = self._stop_reason is not None
            if not stopped:
                self.record.set_state(JobState.SETUP_DONE)
        if stopped:
            self._end_stopped()
            return
        self.driver_output.parent.mkdir(parents=True, exist_ok=True)
        with self.driver_output.open("ab") as out:
            process = self.launcher.spawn(
                argv, resource=job_path(self.record.key), cwd=workdir, env=env, stdout=out, stderr=subprocess.PIPE
            )
        tee = threading.Thread(target=self._tee, args=(process,), name=f"tee-{self.record.key[2]}", daemon=True)
        tee.start()
        with self.store.lock:
            self._process = process
            stopping = self._stop_reason is not None
            if not stopping:
                self.record.set_state(JobState.RUNNING)
        log.info("Job %s running (pid %s)", job_path(self.record.key), process.pid)
        if stopping:
            self._stop_driver(process)
        code = process.wait()
        processes.signal_group(process, signal.SIGKILL)  # nothing of the driver outlives it
        tee.join(timeout=10)
        with self.store.lock:
            stopped = self._stop_reason is not None
        if stopped:
            self._end_stopped()
        elif code == 0:
            self._end(JobState.DONE)
        else:
            self._end(JobState.ERROR, self._failure_details(code))

    def _setup(self) -> tuple[list[str], dict[str, str], Path]:
        """Return the driver's argv, environment and working directory; copy its files."""
        job = self.record.job.pyspark_job
        gcs = self.store.settings.gcs_dir
        main = local_path(job.main_python_file_uri, gcs, field="main_python_file_uri")
        if not main.is_file():
            raise _SetupError(f"File not found: {job.main_python_file_uri}")
        project, region, job_id = self.record.key
        workdir = self.store.settings.data_dir / "jobs" / project / region / job_id
        workdir.mkdir(parents=True, exist_ok=True)
        python_path = [str(workdir)]
        for field, uris in (("file_uris", job.file_uris), ("python_file_uris", job.python_file_uris)):
            for uri in uris:
                source = local_path(uri, gcs, field=field)
                if not source.is_file():
                    raise _SetupError(f"File not found: {uri}")
                copied = workdir / source.name
                shutil.copyfile(source, copied)
                if field == "python_file_uris" and copied.suffix in (".zip", ".egg"):
                    python_path.append(str(copied))
        env = dict(os.environ)
        for key, value in job.properties.items():
            for prefix in ENV_PROPERTY_PREFIXES:
                if key.startswith(prefix) and len(key) > len(prefix):
                    env[key[len(prefix) :]] = value
        if env.get("PYTHONPATH"):
            python_path.append(env["PYTHONPATH"])
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "DASK_SCHEDULER_ADDRESS": self.scheduler_address,
                **credentials.client_environment(self.credential),
            }
        )
        args = [rewrite_arg(arg, gcs) for arg in job.args]
        return [sys.executable, str(main), *args], env, workdir

    def _tee(self, process: subprocess.Popen[bytes]) -> None:
        """Copy the driver's standard error into the driver output as it comes, keeping its tail."""
        assert process.stderr is not None
        with process.stderr, self.driver_output.open("ab", buffering=0) as out:
            while chunk := os.read(process.stderr.fileno(), 65536):
                out.write(chunk)
                self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL_BYTES:]

    def _failure_details(self, code: int) -> str:
        lines = [line.strip() for line in self._stderr_tail.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line]
        if lines:
            message = lines[-1]
        elif code < 0:
            message = f"Driver killed by signal {signal.Signals(-code).name}"
        else:
            message = f"Driver exited with code {code}"
        return (
            f"Job failed with message [{message}]. Additional details can be found at:\n"
            f"{self.record.job.driver_output_resource_uri}"
        )

    def _end_stopped(self) -> None:
        assert self._stop_reason is not None
        kind, reason = self._stop_reason
        if kind == "cancel":
            self._end(JobState.CANCELLED)
        else:
            self._end(JobState.ERROR, reason)

    def _end(self, state: int, details: str = "") -> None:
        with self.store.lock:
            if self.record.done:
                return
            self.record.set_state(state, details)
        log.info("Job %s ended in %s %s", job_path(self.record.key), JobState(state).name, details)
        self.on_finish(self.record)
