"""Start and stop the emulator's child processes so that none outlives it.

Every child (Dask scheduler, Dask worker, job driver) starts in a session of its own, so stopping it
signals its whole process group, and on Linux with ``PR_SET_PDEATHSIG`` (SIGTERM, or SIGKILL for
Dask processes), so it is stopped even when the emulator is killed with SIGKILL. The parent-death
signal fires when the *thread* that started the child ends, not the process, so every child is
started from one long-lived thread (:class:`Launcher`). Every child also carries
``DASK_DATAPROC_EMULATOR_PID`` (and the name of its cluster or job) in its environment, by which
:func:`dask_dataproc_emulator.testing.dask_processes` finds leftovers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from dask_dataproc_emulator.settings import MARKER_ENV, RESOURCE_ENV

log = logging.getLogger(__name__)

#: Run by a fresh interpreter before the real program: ask Linux for a signal when the parent thread
#: ends, give up if the parent is already gone, then exec the program (the setting survives exec).
#: Doing it here rather than in a ``preexec_fn`` keeps Python code out of the forked child.
_WITH_DEATH_SIGNAL = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(sys.argv[2]), 0, 0, 0)\n"  # PR_SET_PDEATHSIG
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(1)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def with_death_signal(argv: Sequence[str], signum: int = signal.SIGTERM) -> list[str]:
    """Return ``argv`` prefixed so that on Linux the program gets ``signum`` when its parent dies.

    ``argv[0]`` must be an absolute path. Elsewhere ``argv`` is returned unchanged.
    """
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _WITH_DEATH_SIGNAL, str(os.getpid()), str(int(signum)), *argv]


class Launcher:
    """Start child processes from one thread that lives as long as the emulator."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="launcher")

    def spawn(
        self,
        argv: Sequence[str],
        *,
        resource: str,
        cwd: Path,
        env: Mapping[str, str],
        stdout: IO[bytes],
        stderr: IO[bytes] | int,
        death_signal: int = signal.SIGTERM,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a new session, with the parent-death signal and the marker variables.

        :param resource: name of the cluster or job the process belongs to (``RESOURCE_ENV``).
        :param death_signal: the signal the process gets if the emulator dies.
        """
        # SPT_NOENV: Dask retitles its processes with setproctitle, which otherwise overwrites the
        # memory /proc/PID/environ reads, and with it the markers.
        environment = {**env, MARKER_ENV: str(os.getpid()), RESOURCE_ENV: resource, "SPT_NOENV": "1"}

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                with_death_signal(argv, death_signal),
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                close_fds=True,
            )

        process = self._thread.submit(start).result()
        log.debug("Started pid %s: %s", process.pid, " ".join(argv))
        return process

    def close(self) -> None:
        """End the launcher thread; call only after every child has been stopped."""
        self._thread.shutdown(wait=True)


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the process group the child leads; a group already gone is fine."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop(process: subprocess.Popen[bytes], *, grace: float, name: str = "") -> int | None:
    """Stop a child and everything in its process group: SIGTERM, ``grace`` seconds, then SIGKILL.

    Return the child's exit code (negative for a signal), or None if it could not be reaped.
    """
    if process.poll() is None:
        signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %s) ignored SIGTERM for %.0f s; killing it", name or "process", process.pid, grace)
    # SIGKILL whatever is left of the group, the leader included (a no-op once all are gone).
    signal_group(process, signal.SIGKILL)
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.error("%s (pid %s) survived SIGKILL", name or "process", process.pid)
        return None


def stop_later(process: subprocess.Popen[bytes], *, grace: float, name: str = "") -> threading.Thread:
    """Run :func:`stop` in a background thread and return the thread."""
    thread = threading.Thread(target=stop, args=(process,), kwargs={"grace": grace, "name": name}, daemon=True)
    thread.start()
    return thread


def tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(file.tell() - 16384, 0))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
