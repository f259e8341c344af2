"""The lost-workers check of a running job, with an injected clock: no network, no sleeps."""

from __future__ import annotations

import pytest

from airflow_dask_provider.hooks.dask_scheduler import DaskProgress
from airflow_dask_provider.monitoring import JobLogFollower, WorkerWatch

from ..recording_log import RecordingLog

DASHBOARD = "https://gw/gateway/default/dask/status"


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress(workers: int) -> DaskProgress:
    return DaskProgress(done=1, total=10, processing=0, erred=0, workers=workers, memory_bytes=0)


def counts(watch: WorkerWatch, clock: Clock, *steps: tuple[float, int]) -> list[bool]:
    """Feed ``(seconds later, workers)`` steps; return what each observation said."""
    said = []
    for later, workers in steps:
        clock.now += later
        said.append(watch.observe(workers))
    return said


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_timeout_counts_from_the_look_before_the_first_count_of_zero(clock):
    """The last worker left after that look at the earliest: the job fails within timeout plus one poll of it."""
    watch = WorkerWatch(timeout=60, clock=clock)

    said = counts(watch, clock, (0, 2), (30, 0), (29, 0), (1, 0))

    assert said == [False, False, False, True]
    assert (watch.since, watch.seconds) == (1000, 60)


def test_an_unanswered_look_neither_starts_nor_stops_the_clock_nor_ends_it(clock):
    watch = WorkerWatch(timeout=60, clock=clock)
    counts(watch, clock, (0, 2))
    clock.now += 20
    watch.missed()

    assert counts(watch, clock, (5, 0)) == [False] and watch.since == 1020
    for _ in range(4):
        clock.now += 20
        watch.missed()
    assert not watch.expired
    assert counts(watch, clock, (1, 0)) == [True] and watch.seconds == 86


def test_any_worker_stops_the_clock_and_the_next_zero_starts_it_again(clock):
    watch = WorkerWatch(timeout=60, clock=clock)

    said = counts(watch, clock, (0, 0), (50, 0), (5, 1), (0, 0), (50, 0), (10, 0))

    assert said == [False, False, False, False, False, True]


def test_a_cluster_with_no_worker_from_the_start_counts_too(clock):
    watch = WorkerWatch(timeout=10, clock=clock)

    assert counts(watch, clock, (0, 0), (10, 0)) == [False, True]


@pytest.mark.parametrize("timeout", [0, -1])
def test_a_watch_needs_a_positive_timeout(timeout):
    with pytest.raises(ValueError, match="above 0"):
        WorkerWatch(timeout=timeout)


def follower(hook, clock, **kwargs) -> tuple[JobLogFollower, RecordingLog]:
    log = RecordingLog()
    values = {"driver_output_uri": "", "dashboard_url": DASHBOARD, "progress_interval": 0, "clock": clock}
    return JobLogFollower(hook, log=log, **{**values, **kwargs}), log


def test_the_follower_counts_workers_at_every_call_without_progress_lines(mocker, clock):
    hook = mocker.MagicMock()
    hook.dask_scheduler.get_progress.return_value = progress(0)
    watcher, log = follower(hook, clock, no_worker_timeout=10)

    watcher.follow()
    clock.now += 9
    watcher.follow()
    assert watcher.lost_workers(cluster_name="c") is None
    clock.now += 1
    watcher.follow()

    assert hook.dask_scheduler.get_progress.call_count == 3
    assert not [line for line in log.lines if line.startswith("Dask progress")]
    reason = watcher.lost_workers(cluster_name="c")
    assert reason.startswith("Cluster c has had no Dask worker for 10 s (no_worker_timeout is 10 s)")
    assert "preempted" in reason and DASHBOARD in reason
    assert "The Dask scheduler has no worker; the job is cancelled if none joins within 10 s" in log.lines[0]


def test_the_follower_logs_when_workers_come_back(mocker, clock):
    hook = mocker.MagicMock()
    hook.dask_scheduler.get_progress.side_effect = [progress(0), progress(2)]
    watcher, log = follower(hook, clock, no_worker_timeout=10)

    watcher.follow()
    clock.now += 4
    watcher.follow()

    assert log.lines[-1] == "Dask workers are back (2) after 4 s without any"
    assert watcher.workers.since is None


def test_an_unreachable_scheduler_is_no_count_of_zero(mocker, clock):
    hook = mocker.MagicMock()
    hook.dask_scheduler.get_progress.side_effect = [
        progress(0),
        OSError("502 Bad Gateway"),
        OSError("502"),
        OSError("502"),
    ]
    watcher, log = follower(hook, clock, no_worker_timeout=10)

    for _ in range(4):
        watcher.follow()
        clock.now += 5

    assert watcher.lost_workers(cluster_name="c") is None
    assert watcher.workers.since == 1000  # the clock runs on, to end at the next count of 0
    assert [line for line in log.lines if line.startswith("Cannot read Dask progress")] == [
        f"Cannot read Dask progress from {DASHBOARD}: 502 Bad Gateway"
    ]


def test_without_a_dashboard_the_check_is_off_and_says_why_once(mocker, clock):
    hook = mocker.MagicMock()
    watcher, log = follower(hook, clock, dashboard_url=None, no_worker_timeout=10)

    for _ in range(3):
        watcher.follow()
        clock.now += 20

    hook.dask_scheduler.get_progress.assert_not_called()
    assert watcher.lost_workers(cluster_name="c") is None
    assert len(log.lines) == 1 and "Component Gateway" in log.lines[0]


def test_with_no_timeout_the_follower_reads_progress_only_for_its_lines(mocker, clock):
    hook = mocker.MagicMock()
    hook.dask_scheduler.get_progress.return_value = progress(0)
    watcher, _ = follower(hook, clock, progress_interval=10)

    for _ in range(4):
        watcher.follow()
        clock.now += 1

    assert hook.dask_scheduler.get_progress.call_count == 1
    assert watcher.workers is None and watcher.lost_workers(cluster_name="c") is None
