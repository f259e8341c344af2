"""A stand-in for a trigger's logger: Airflow 3 sends task and trigger logs past ``caplog``."""

from __future__ import annotations


class RecordingLog:
    """Keeps each formatted line logged through it, at any level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _record(self, message: str, *args: object, **_: object) -> None:
        self.lines.append(message % args if args else message)

    info = warning = error = exception = debug = _record
