"""The scaling timeline: rows from snapshots and decisions, worker-seconds, CSV and PNG."""

from __future__ import annotations

import pytest

from airflow_dask_provider.scaling.rule import GROW, HOLD, LoadSnapshot, ScalingDecision
from airflow_dask_provider.scaling.timeline import Timeline, integrate, read_csv


def snapshot(time: float, secondary: int, *, resizing: bool = False, queued: int = 0) -> LoadSnapshot:
    return LoadSnapshot(
        time=time,
        adaptive_target=2 + secondary,
        primary_workers=2,
        secondary_workers=secondary,
        queued_tasks=queued,
        dask_workers=2 + secondary,
        resizing=resizing,
    )


def hold(time: float, secondary: int) -> ScalingDecision:
    return ScalingDecision(time, HOLD, secondary, secondary, secondary, "load matches")


@pytest.fixture
def timeline() -> Timeline:
    timeline = Timeline(start=100.0)
    timeline.record(snapshot(100, 0, queued=30), ScalingDecision(100, GROW, 0, 4, 4, "queued"))
    timeline.record(snapshot(102, 0, resizing=True, queued=20), hold(102, 0))
    timeline.record(snapshot(104, 4), hold(104, 4))
    timeline.record(snapshot(110, 4), hold(110, 4))
    return timeline


def test_nodes_are_billed_from_the_moment_they_are_asked_for(timeline):
    assert [row.billed_workers for row in timeline.rows] == [6, 6, 6, 6]
    assert timeline.worker_seconds() == pytest.approx(6 * 10)
    assert timeline.max_secondary() == 4


def test_integrate_a_step_function_within_a_window():
    points = [(0, 2), (10, 6), (20, 2)]

    assert integrate(points, end=30) == pytest.approx(20 + 60 + 20)
    assert integrate(points, start=5, end=15) == pytest.approx(10 + 30)
    assert integrate([]) == 0.0


def test_csv_round_trip(timeline, tmp_path):
    path = timeline.write_csv(tmp_path / "t.csv")

    assert read_csv(path) == timeline.rows
    assert path.read_text().splitlines()[0].startswith("seconds,primary_workers,secondary_workers")


def test_png_is_drawn(timeline, tmp_path):
    path = timeline.write_png(tmp_path / "t.png")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
