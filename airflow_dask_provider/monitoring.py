"""Copy a running Dask job's driver output and the scheduler's progress into the task log.

The same :class:`JobLogFollower` serves a task that waits in its worker slot (it is called at every
poll) and a deferred task, whose trigger calls it from the triggerer; Airflow routes a trigger's log
to the task's log, so the user reads both the same way. It also watches the cluster's Dask workers
(:class:`WorkerWatch`), so both ways of waiting tell a job whose workers are all gone the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_dask_provider import defaults

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

#: Prefix of every driver output line in the task log, so a reader tells them from Airflow's own.
DRIVER_PREFIX = "[driver] "
#: Seconds after the start of a job at which its first progress line is due.
FIRST_PROGRESS_SECONDS = defaults.FIRST_PROGRESS_SECONDS
#: The state a job trigger's event names when the job's cluster has had no Dask worker for too long.
NO_WORKERS = "NO_WORKERS"


class WorkerWatch:
    """Tell when a cluster has had no Dask worker for ``timeout`` seconds in a row.

    It is told of every look at the scheduler: the worker count it answered (:meth:`observe`), or
    that it did not answer (:meth:`missed`). The clock starts at the look before the first count of
    0: the workers were still there then, or may have been, so a poll-by-poll watch fails the job
    within ``timeout`` plus one poll of the loss of the last worker, and no later. Any count above 0
    stops the clock. A count of 0 at the start counts too (the watch's creation is its first look):
    a job whose workers never join waits for them no longer than for workers that died. The
    timeout is only ever found passed at an answered count of 0, never on silence: an unreachable
    scheduler is a different failure, which the job's state or its timeout settles.

    :param timeout: seconds without a worker after which :meth:`observe` returns True; above 0.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, *, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be above 0, not {timeout!r}")
        self.timeout = timeout
        self.clock = clock
        #: When the clock started: the look before the first count of 0 (None while there are workers).
        self.since: float | None = None
        #: Seconds without a worker at the last count.
        self.seconds = 0.0
        self._last_look = clock()

    def observe(self, workers: int) -> bool:
        """Take the worker count the scheduler answered; return whether ``timeout`` has passed without any."""
        now = self.clock()
        if workers > 0:
            self.since = None
        elif self.since is None:
            self.since = self._last_look
        self._last_look = now
        self.seconds = 0.0 if self.since is None else now - self.since
        return self.expired

    def missed(self) -> None:
        """Note a look at the scheduler that got no answer: it starts no clock and stops none."""
        self._last_look = self.clock()

    @property
    def expired(self) -> bool:
        """Whether the last count found no worker for ``timeout`` seconds."""
        return self.since is not None and self.seconds >= self.timeout


class JobLogFollower:
    """Log a job's new driver output lines, and every ``progress_interval`` seconds its Dask progress.

    The first progress line comes ``FIRST_PROGRESS_SECONDS`` after the start (the driver has
    submitted work by then), the next ones every ``progress_interval``. None comes at the end: once
    the driver has disconnected, the scheduler forgets its tasks.

    Only whole lines are logged; a line the driver has not finished yet waits for the next call, or
    for :meth:`finish`. Reading either source may fail (the output does not exist yet, the dashboard
    is unreachable): that is logged once and never fails the task.

    With ``no_worker_timeout``, the worker count is read at every call, not only with the progress
    lines, and :meth:`lost_workers` says when the cluster has had no Dask worker that long; the
    caller then cancels the job. Without a dashboard URL (Component Gateway off) the count cannot
    be read: that is logged once, and the check is off.

    :param hook: the hook that reads Cloud Storage and the scheduler's metrics.
    :param driver_output_uri: the job's ``driver_output_resource_uri``.
    :param dashboard_url: the cluster's Dask dashboard; no progress lines without it.
    :param log: where to write.
    :param offset: bytes of output already logged (by an earlier follower of the same job).
    :param progress_interval: seconds between progress lines; 0 turns them off.
    :param no_worker_timeout: seconds the cluster may have no Dask worker; 0 turns the check off.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        hook: DaskDataprocHook,
        *,
        driver_output_uri: str,
        dashboard_url: str | None,
        log: logging.Logger | logging.LoggerAdapter,
        offset: int = 0,
        progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS,
        no_worker_timeout: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hook = hook
        self.driver_output_uri = driver_output_uri
        self.dashboard_url = dashboard_url
        self.log = log
        self.offset = offset
        self.progress_interval = progress_interval
        self.clock = clock
        self._partial = ""
        self._next_progress = clock() + min(progress_interval, FIRST_PROGRESS_SECONDS)
        self._failed: set[str] = set()
        self.workers: WorkerWatch | None = None
        if no_worker_timeout > 0 and dashboard_url:
            self.workers = WorkerWatch(timeout=no_worker_timeout, clock=clock)
        elif no_worker_timeout > 0:
            log.warning(
                "No check for lost Dask workers (no_worker_timeout): the cluster has no Dask dashboard URL "
                "(is Component Gateway off?), so its worker count cannot be read"
            )

    def follow(self) -> None:
        """Log what the driver wrote since the last call, and the progress when it is due.

        With a worker check, read the worker count now whether a progress line is due or not.
        """
        self._copy_output(final=False)
        due = bool(self.dashboard_url) and self.progress_interval > 0 and self.clock() >= self._next_progress
        if due:
            self._next_progress = self.clock() + self.progress_interval
        if due or self.workers is not None:
            self.report_progress(log_line=due)

    def finish(self) -> None:
        """Log the rest of the output, the unfinished last line included (the job has ended)."""
        self._copy_output(final=True)

    def report_progress(self, *, log_line: bool = True) -> None:
        """Read the Dask progress from the scheduler: log it as one line, and count its workers."""
        try:
            progress = self.hook.dask_scheduler.get_progress(dashboard_url=self.dashboard_url or "")
        except Exception as err:  # progress only informs; the job's own state decides the task
            self._warn_once("progress", "Cannot read Dask progress from %s: %s", self.dashboard_url, err)
            if self.workers is not None:
                self.workers.missed()
            return
        if log_line:
            self.log.info("%s", progress.describe())
        if self.workers is not None:
            self._count_workers(progress.workers)

    def _count_workers(self, workers: int) -> None:
        """Feed the worker watch; log when the cluster loses its last worker and when workers come back."""
        watch = self.workers
        assert watch is not None
        none_since = watch.since
        watch.observe(workers)
        if none_since is None and watch.since is not None:
            self.log.warning(
                "The Dask scheduler has no worker; the job is cancelled if none joins within %g s (no_worker_timeout)",
                watch.timeout,
            )
        elif none_since is not None and watch.since is None:
            self.log.info("Dask workers are back (%d) after %.0f s without any", workers, self.clock() - none_since)

    def lost_workers(self, *, cluster_name: str) -> str | None:
        """Return why the job must stop if its cluster has had no Dask worker for ``no_worker_timeout``, else None.

        :param cluster_name: the job's cluster, named in the reason.
        """
        if self.workers is None or not self.workers.expired:
            return None
        return (
            f"Cluster {cluster_name} has had no Dask worker for {self.workers.seconds:.0f} s "
            f"(no_worker_timeout is {self.workers.timeout:g} s). Its workers may have crashed, been preempted "
            f"or been killed for running out of memory: see the worker nodes' logs and the Dask dashboard at "
            f"{self.dashboard_url}"
        )

    def _copy_output(self, *, final: bool) -> None:
        if not self.driver_output_uri:
            return
        try:
            text, self.offset = self.hook.read_driver_output(
                driver_output_uri=self.driver_output_uri, offset=self.offset
            )
        except Exception as err:
            self._warn_once("output", "Cannot read the driver output at %s yet: %s", self.driver_output_uri, err)
            return
        text = self._partial + text
        lines = text.split("\n")
        last = lines.pop()  # after the final newline: the start of a line not finished yet
        self._partial = "" if final else last
        if final and last:
            lines.append(last)
        for line in lines:
            self.log.info("%s%s", DRIVER_PREFIX, line.rstrip("\r"))

    def _warn_once(self, what: str, message: str, *args: object) -> None:
        if what not in self._failed:
            self._failed.add(what)
            self.log.warning(message, *args)
