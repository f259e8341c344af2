"""The Dask-aware scaling rule of secondary workers: decisions as data, no I/O.

In the spirit of distributed's ``deploy/adaptive_core.py``: the scheduler's ``adaptive_target()``
says how many workers the queued and processing work wants; the rule turns it into a count of
secondary workers, clamps it to the configured bounds, grows at once (after a cooldown) and shrinks
only after the load has stayed lower for ``wait_count`` checks in a row *and* for
``scale_down_delay`` (hysteresis), to the highest count asked for during that wait. Each call
returns a :class:`ScalingDecision` that says what to do and why; carrying it out is the scaler's job.

Not to be confused with a Dataproc *autoscaling policy*
(:mod:`~airflow_dask_provider.scaling.autoscaling_policy`), which Dataproc's own autoscaler carries
out from YARN memory. The names of the durations are the same in both (``cooldown_period``,
``graceful_decommission_timeout``), and so is their unit: seconds, a ``timedelta`` or text such as
``"2m"``, read by :func:`~airflow_dask_provider.validation.parse_duration`.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.validation import duration_seconds, whole_number

#: The rule's defaults and bounds (:mod:`airflow_dask_provider.defaults` holds them).
POKE_INTERVAL_SECONDS = defaults.SCALING_POKE_INTERVAL_SECONDS
WAIT_COUNT = defaults.SCALING_WAIT_COUNT
COOLDOWN_PERIOD_SECONDS = defaults.SCALING_COOLDOWN_PERIOD_SECONDS
SCALE_DOWN_DELAY_SECONDS = defaults.SCALING_SCALE_DOWN_DELAY_SECONDS
MAX_SECONDARY_WORKERS = defaults.MAX_INSTANCES
MAX_SECONDS = defaults.SCALING_MAX_SECONDS

GROW = "grow"
SHRINK = "shrink"
HOLD = "hold"


@dataclasses.dataclass(frozen=True)
class ScalingConfig:
    """Bounds and pace of Dask-aware scaling; every value is checked when it is built.

    :param max_secondary_workers: most secondary workers, 0 to 1000.
    :param min_secondary_workers: fewest secondary workers, 0 to ``max_secondary_workers``.
    :param wait_count: checks in a row the load must ask for fewer workers before any are removed.
    :param cooldown_period: time after a resize before the next one, 0 to 1 day; held in seconds.
    :param scale_down_delay: time the load must have asked for fewer workers before any are removed,
        0 to 1 day; held in seconds.
    """

    max_secondary_workers: int
    min_secondary_workers: int = 0
    wait_count: int = WAIT_COUNT
    cooldown_period: float | str | timedelta = COOLDOWN_PERIOD_SECONDS
    scale_down_delay: float | str | timedelta = SCALE_DOWN_DELAY_SECONDS

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        maximum = whole_number("max_secondary_workers", self.max_secondary_workers, 0, MAX_SECONDARY_WORKERS)
        minimum = whole_number("min_secondary_workers", self.min_secondary_workers, 0, MAX_SECONDARY_WORKERS)
        if minimum > maximum:
            raise ClusterSpecError("min_secondary_workers", minimum, f"must not exceed max_secondary_workers={maximum}")
        set_(self, "max_secondary_workers", maximum)
        set_(self, "min_secondary_workers", minimum)
        set_(self, "wait_count", whole_number("wait_count", self.wait_count, 1, 1000))
        set_(self, "cooldown_period", duration_seconds("cooldown_period", self.cooldown_period, 0, MAX_SECONDS))
        set_(self, "scale_down_delay", duration_seconds("scale_down_delay", self.scale_down_delay, 0, MAX_SECONDS))

    def clamp(self, count: int) -> int:
        """Return ``count`` within the bounds."""
        return max(self.min_secondary_workers, min(self.max_secondary_workers, count))


@dataclasses.dataclass(frozen=True)
class LoadSnapshot:
    """What the scaler saw at one check.

    :param time: seconds on a monotonic clock.
    :param adaptive_target: workers the scheduler wants (``Scheduler.adaptive_target()``).
    :param primary_workers: primary worker nodes; they stay whatever the load.
    :param secondary_workers: secondary worker nodes now.
    :param queued_tasks: tasks waiting for a thread (queued and unrunnable on the scheduler).
    :param processing_tasks: tasks assigned to workers.
    :param dask_workers: workers connected to the scheduler.
    :param resizing: a resize of the cluster is under way.
    """

    time: float
    adaptive_target: int
    primary_workers: int
    secondary_workers: int
    queued_tasks: int = 0
    processing_tasks: int = 0
    dask_workers: int = 0
    resizing: bool = False


@dataclasses.dataclass(frozen=True)
class ScalingDecision:
    """What to do with the secondary worker group, and why.

    :param time: the snapshot's time.
    :param action: ``grow``, ``shrink`` or ``hold``.
    :param current: secondary workers now.
    :param target: secondary workers after the action (``current`` for ``hold``).
    :param wanted: what the load asks for, within the bounds.
    :param reason: why, in words, for the task log.
    """

    time: float
    action: str
    current: int
    target: int
    wanted: int
    reason: str

    def __str__(self) -> str:
        if self.action == HOLD:
            return f"hold {self.current} secondary workers: {self.reason}"
        return f"{self.action} secondary workers {self.current} -> {self.target}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-safe dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RuleState:
    """What the rule remembers between checks.

    :param last_resize: time of the last grow or shrink it decided.
    :param below_count: checks in a row the load asked for fewer workers than there are.
    :param below_since: time of the first of those checks.
    :param below_peak: the most workers the load asked for during those checks.
    """

    last_resize: float | None = None
    below_count: int = 0
    below_since: float | None = None
    below_peak: int = 0


def wanted_secondary(config: ScalingConfig, snapshot: LoadSnapshot) -> int:
    """Return the secondary workers the load asks for, within the bounds: the target minus the primaries."""
    return config.clamp(snapshot.adaptive_target - snapshot.primary_workers)


def _load(snapshot: LoadSnapshot) -> str:
    return (
        f"scheduler wants {snapshot.adaptive_target} workers ({snapshot.queued_tasks} tasks queued, "
        f"{snapshot.processing_tasks} processing), {snapshot.primary_workers} are primary"
    )


def decide(config: ScalingConfig, state: RuleState, snapshot: LoadSnapshot) -> tuple[ScalingDecision, RuleState]:
    """Return the decision for ``snapshot`` and the state to remember for the next check."""
    now = snapshot.time
    current = snapshot.secondary_workers
    wanted = wanted_secondary(config, snapshot)
    no_streak = dataclasses.replace(state, below_count=0, below_since=None, below_peak=0)

    def hold(reason: str, next_state: RuleState) -> tuple[ScalingDecision, RuleState]:
        return ScalingDecision(now, HOLD, current, current, wanted, reason), next_state

    def resize(action: str, target: int, reason: str) -> tuple[ScalingDecision, RuleState]:
        return ScalingDecision(now, action, current, target, wanted, reason), RuleState(last_resize=now)

    if snapshot.resizing:
        return hold("a resize is under way", state)
    # The bounds are a hard rule: a group outside them is corrected at once, cooldown or not.
    if current < config.min_secondary_workers:
        return resize(GROW, config.min_secondary_workers, f"below the minimum of {config.min_secondary_workers}")
    if current > config.max_secondary_workers:
        return resize(SHRINK, config.max_secondary_workers, f"above the maximum of {config.max_secondary_workers}")
    cooldown_left = 0.0 if state.last_resize is None else state.last_resize + config.cooldown_period - now
    capped = " (capped at the maximum)" if snapshot.adaptive_target - snapshot.primary_workers > wanted else ""

    if wanted == current:
        return hold(f"load matches: {_load(snapshot)}", no_streak)
    if wanted > current:
        if cooldown_left > 0:
            return hold(f"cooling down for {cooldown_left:.1f} s more; {_load(snapshot)}", no_streak)
        return resize(GROW, wanted, f"{_load(snapshot)}{capped}")

    count = state.below_count + 1
    since = state.below_since if state.below_count else now
    peak = max(state.below_peak, wanted) if state.below_count else wanted
    streak = RuleState(last_resize=state.last_resize, below_count=count, below_since=since, below_peak=peak)
    waited = now - since
    if count < config.wait_count:
        return hold(f"{_load(snapshot)}; fewer wanted for {count} of {config.wait_count} checks", streak)
    if waited < config.scale_down_delay:
        return hold(f"{_load(snapshot)}; fewer wanted for {waited:.1f} of {config.scale_down_delay:g} s", streak)
    if cooldown_left > 0:
        return hold(f"cooling down for {cooldown_left:.1f} s more; {_load(snapshot)}", streak)
    return resize(SHRINK, peak, f"{_load(snapshot)}; fewer wanted for {count} checks and {waited:.1f} s")


class ScalingRule:
    """Keep the rule's state between checks: ``rule.decide(snapshot)`` returns a :class:`ScalingDecision`.

    :param config: bounds and pace.
    """

    def __init__(self, config: ScalingConfig) -> None:
        self.config = config
        self.state = RuleState()

    def decide(self, snapshot: LoadSnapshot) -> ScalingDecision:
        """Return the decision for ``snapshot`` and remember what the next check needs."""
        decision, self.state = decide(self.config, self.state, snapshot)
        return decision
