"""Copy a running Dask job's driver output and the scheduler's progress into the task log.

The same :class:`JobLogFollower` serves a task that waits in its worker slot (it is called at every
poll) and a deferred task, whose trigger calls it from the triggerer; Airflow routes a trigger's log
to the task's log, so the user reads both the same way.
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
FIRST_PROGRESS_SECONDS = 3.0


class JobLogFollower:
    """Log a job's new driver output lines, and every ``progress_interval`` seconds its Dask progress.

    The first progress line comes ``FIRST_PROGRESS_SECONDS`` after the start (the driver has
    submitted work by then), the next ones every ``progress_interval``. None comes at the end: once
    the driver has disconnected, the scheduler forgets its tasks.

    Only whole lines are logged; a line the driver has not finished yet waits for the next call, or
    for :meth:`finish`. Reading either source may fail (the output does not exist yet, the dashboard
    is unreachable): that is logged once and never fails the task.

    :param hook: the hook that reads Cloud Storage and the scheduler's metrics.
    :param driver_output_uri: the job's ``driver_output_resource_uri``.
    :param dashboard_url: the cluster's Dask dashboard; no progress lines without it.
    :param log: where to write.
    :param offset: bytes of output already logged (by an earlier follower of the same job).
    :param progress_interval: seconds between progress lines; 0 turns them off.
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

    def follow(self) -> None:
        """Log what the driver wrote since the last call, and the progress when it is due."""
        self._copy_output(final=False)
        if self.dashboard_url and self.progress_interval > 0 and self.clock() >= self._next_progress:
            self._next_progress = self.clock() + self.progress_interval
            self.report_progress()

    def finish(self) -> None:
        """Log the rest of the output, the unfinished last line included (the job has ended)."""
        self._copy_output(final=True)

    def report_progress(self) -> None:
        """Log one line of Dask progress read from the scheduler."""
        try:
            progress = self.hook.get_dask_progress(dashboard_url=self.dashboard_url or "")
        except Exception as err:  # progress only informs; the job's own state decides the task
            self._warn_once("progress", "Cannot read Dask progress from %s: %s", self.dashboard_url, err)
            return
        self.log.info("%s", progress.describe())

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
