"""A record of scaling over time, written as CSV and drawn as PNG.

One row per check: the workers there were, the queue the scheduler had, and what was decided.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_dask_provider.scaling.rule import LoadSnapshot, ScalingDecision


@dataclasses.dataclass(frozen=True)
class TimelineRow:
    """One check: seconds since the timeline started, the load, and the decision."""

    seconds: float
    primary_workers: int
    secondary_workers: int
    secondary_requested: int
    dask_workers: int
    queued_tasks: int
    processing_tasks: int
    adaptive_target: int
    action: str
    reason: str

    @property
    def billed_workers(self) -> int:
        """Nodes that cost money: primaries plus secondaries that exist or are asked for."""
        return self.primary_workers + max(self.secondary_workers, self.secondary_requested)


FIELDS = tuple(field.name for field in dataclasses.fields(TimelineRow))


class Timeline:
    """Collect :class:`TimelineRow` rows; ``start`` is the time (same clock as snapshots) of second 0."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.rows: list[TimelineRow] = []
        self._requested: int | None = None

    def record(self, snapshot: LoadSnapshot, decision: ScalingDecision) -> TimelineRow:
        """Add the row of one check and return it."""
        if self._requested is None or not snapshot.resizing:
            self._requested = snapshot.secondary_workers
        if decision.action != "hold":
            self._requested = decision.target
        row = TimelineRow(
            seconds=round(snapshot.time - self.start, 3),
            primary_workers=snapshot.primary_workers,
            secondary_workers=snapshot.secondary_workers,
            secondary_requested=self._requested,
            dask_workers=snapshot.dask_workers,
            queued_tasks=snapshot.queued_tasks,
            processing_tasks=snapshot.processing_tasks,
            adaptive_target=snapshot.adaptive_target,
            action=decision.action,
            reason=decision.reason,
        )
        self.rows.append(row)
        return row

    def worker_seconds(self, *, start: float = 0.0, end: float | None = None) -> float:
        """Integrate billed workers over ``[start, end]`` seconds (each row holds until the next)."""
        return integrate(((row.seconds, row.billed_workers) for row in self.rows), start=start, end=end)

    def max_secondary(self) -> int:
        """Return the most secondary workers seen."""
        return max((row.secondary_workers for row in self.rows), default=0)

    def write_csv(self, path: str | Path) -> Path:
        """Write every row to a CSV file and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(FIELDS)
            for row in self.rows:
                writer.writerow([getattr(row, name) for name in FIELDS])
        return path

    def write_png(self, path: str | Path, *, title: str = "Dask-aware scaling") -> Path:
        """Draw workers and queued tasks against time into a PNG file and return its path."""
        return plot([(title, self.rows)], path)


def integrate(points: Iterable[tuple[float, float]], *, start: float = 0.0, end: float | None = None) -> float:
    """Integrate a step function given as ``(time, value)`` points over ``[start, end]``."""
    points = sorted(points)
    if not points:
        return 0.0
    end = points[-1][0] if end is None else end
    total = 0.0
    for (time, value), (next_time, _) in zip(points, [*points[1:], (end, 0.0)]):
        low, high = max(time, start), min(next_time, end)
        if high > low:
            total += value * (high - low)
    return total


def read_csv(path: str | Path) -> list[TimelineRow]:
    """Read a timeline CSV written by :meth:`Timeline.write_csv`."""
    types = {field.name: field.type for field in dataclasses.fields(TimelineRow)}
    convert = {"float": float, "int": int, "str": str}
    with Path(path).open(newline="") as file:
        return [
            TimelineRow(**{name: convert[types[name]](value) for name, value in record.items()})
            for record in csv.DictReader(file)
        ]


def plot(series: list[tuple[str, list[TimelineRow]]], path: str | Path) -> Path:
    """Draw one panel per ``(title, rows)``: workers (left axis) and queued tasks (right) against time."""
    from airflow_dask_provider.optional import import_extra

    matplotlib = import_extra("matplotlib", extra="timeline", feature="The scaling timeline's picture")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = pyplot.subplots(len(series), 1, figsize=(9, 3.2 * len(series)), squeeze=False, sharex=True)
    for (title, rows), ax in zip(series, axes[:, 0]):
        seconds = [row.seconds for row in rows]
        ax.step(seconds, [row.dask_workers for row in rows], where="post", label="Dask workers", color="tab:blue")
        ax.step(
            seconds,
            [row.billed_workers for row in rows],
            where="post",
            label="nodes (billed)",
            color="tab:orange",
            linestyle="--",
        )
        ax.step(
            seconds,
            [row.primary_workers for row in rows],
            where="post",
            label="primary",
            color="tab:gray",
            linestyle=":",
        )
        ax.set_ylabel("workers")
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        queue = ax.twinx()
        queue.fill_between(
            seconds,
            [row.queued_tasks for row in rows],
            step="post",
            alpha=0.25,
            color="tab:green",
            label="queued tasks",
        )
        queue.set_ylabel("queued tasks")
        queue.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()
        extra = queue.get_legend_handles_labels()
        ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
