"""The Dask-aware scaling rule, pure: bounds, hysteresis and cooldown, decided from snapshots alone."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.scaling.rule import (
    GROW,
    HOLD,
    SHRINK,
    LoadSnapshot,
    RuleState,
    ScalingConfig,
    ScalingRule,
    decide,
)

PRIMARY = 2


def config(**changes) -> ScalingConfig:
    values = {
        "min_secondary_workers": 0,
        "max_secondary_workers": 4,
        "wait_count": 3,
        "cooldown_period": 10,
        "scale_down_delay": 5,
    }
    return ScalingConfig(**{**values, **changes})


def snap(time: float, target: int, secondary: int, **changes) -> LoadSnapshot:
    return LoadSnapshot(
        time=time, adaptive_target=target, primary_workers=PRIMARY, secondary_workers=secondary, **changes
    )


def run(rule: ScalingRule, loads: list[tuple[float, int]], secondary: int = 0) -> list:
    """Feed (time, adaptive target) pairs, applying every decision at once; return the decisions."""
    decisions = []
    for time, target in loads:
        decision = rule.decide(snap(time, target, secondary))
        secondary = decision.target
        decisions.append(decision)
    return decisions


def test_queued_work_grows_the_group_at_once():
    decision, _ = decide(config(), RuleState(), snap(0, target=5, secondary=0, queued_tasks=40))

    assert (decision.action, decision.current, decision.target) == (GROW, 0, 3)
    assert "40 tasks queued" in decision.reason


def test_growth_is_capped_at_the_maximum():
    decision, _ = decide(config(), RuleState(), snap(0, target=50, secondary=1))

    assert (decision.action, decision.target) == (GROW, 4)
    assert "capped at the maximum" in decision.reason


def test_load_the_primaries_can_take_holds():
    decision, _ = decide(config(), RuleState(), snap(0, target=2, secondary=0))

    assert decision.action == HOLD
    assert decision.target == 0


@pytest.mark.parametrize(("secondary", "action", "target"), [(0, GROW, 1), (7, SHRINK, 4)])
def test_a_group_outside_the_bounds_is_corrected_at_once(secondary, action, target):
    state = RuleState(last_resize=0.0)  # even within the cooldown

    decision, _ = decide(config(min_secondary_workers=1), state, snap(1, target=PRIMARY + 2, secondary=secondary))

    assert (decision.action, decision.target) == (action, target)


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 4), (1, 3), (2, 2), (0, 0)])
def test_no_decision_ever_leaves_the_bounds(minimum, maximum):
    rule = ScalingRule(
        config(
            min_secondary_workers=minimum,
            max_secondary_workers=maximum,
            cooldown_period=0,
            scale_down_delay=0,
            wait_count=1,
        )
    )
    targets = [0, 1, 9, 3, 0, 0, 40, 2, 6, 0, 0, 0, 5]

    decisions = run(rule, list(zip(itertools.count(), targets)), secondary=minimum)

    assert all(minimum <= d.target <= maximum for d in decisions)
    assert all(minimum <= d.wanted <= maximum for d in decisions)


def test_shrinking_waits_for_wait_count_checks_in_a_row():
    rule = ScalingRule(config(wait_count=3, scale_down_delay=0, cooldown_period=0))

    decisions = run(rule, [(0, 1), (1, 1), (2, 1)], secondary=4)

    assert [d.action for d in decisions] == [HOLD, HOLD, SHRINK]
    assert decisions[-1].target == 0
    assert "1 of 3 checks" in decisions[0].reason


def test_shrinking_waits_for_the_scale_down_delay():
    rule = ScalingRule(config(wait_count=1, scale_down_delay=5, cooldown_period=0))

    decisions = run(rule, [(0, 1), (3, 1), (4.9, 1), (5, 1)], secondary=4)

    assert [d.action for d in decisions] == [HOLD, HOLD, HOLD, SHRINK]


def test_a_busy_check_resets_the_wait_for_shrinking():
    rule = ScalingRule(config(wait_count=2, scale_down_delay=0, cooldown_period=0))

    decisions = run(rule, [(0, 1), (1, PRIMARY + 4), (2, 1), (3, 1)], secondary=4)

    assert [d.action for d in decisions] == [HOLD, HOLD, HOLD, SHRINK]


def test_shrinking_goes_to_the_most_wanted_during_the_wait():
    rule = ScalingRule(config(wait_count=3, scale_down_delay=0, cooldown_period=0))

    decisions = run(rule, [(0, PRIMARY + 1), (1, PRIMARY + 3), (2, PRIMARY)], secondary=4)

    assert (decisions[-1].action, decisions[-1].target) == (SHRINK, 3)


def test_cooldown_delays_a_grow_after_a_resize():
    rule = ScalingRule(config(cooldown_period=10))

    decisions = run(rule, [(0, PRIMARY + 1), (5, PRIMARY + 4), (10, PRIMARY + 4)])

    assert [(d.action, d.target) for d in decisions] == [(GROW, 1), (HOLD, 1), (GROW, 4)]
    assert "cooling down for 5.0 s more" in decisions[1].reason


def test_cooldown_delays_a_shrink_after_a_resize():
    rule = ScalingRule(config(cooldown_period=10, wait_count=1, scale_down_delay=0))

    decisions = run(rule, [(0, PRIMARY + 4), (4, 0), (9, 0), (10, 0)])

    assert [d.action for d in decisions] == [GROW, HOLD, HOLD, SHRINK]


def test_a_resize_under_way_holds_whatever_the_load():
    decision, state = decide(config(), RuleState(), snap(0, target=20, secondary=0, resizing=True))

    assert (decision.action, decision.reason) == (HOLD, "a resize is under way")
    assert state == RuleState()


def test_decisions_are_plain_data():
    decision, _ = decide(config(), RuleState(), snap(0, target=5, secondary=0))

    assert decision.as_dict()["action"] == GROW
    assert str(decision).startswith("grow secondary workers 0 -> 3: scheduler wants 5 workers")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"min_secondary_workers": 5, "max_secondary_workers": 4}, "min_secondary_workers"),
        ({"max_secondary_workers": -1}, "max_secondary_workers"),
        ({"max_secondary_workers": 1001}, "max_secondary_workers"),
        ({"max_secondary_workers": 2.5}, "max_secondary_workers"),
        ({"wait_count": 0}, "wait_count"),
        ({"cooldown_period": -1}, "cooldown_period"),
        ({"cooldown_period": 2 * 86400}, "cooldown_period"),
        ({"scale_down_delay": "soon"}, "scale_down_delay"),
        ({"scale_down_delay": "2d"}, "scale_down_delay"),
    ],
)
def test_invalid_config_names_field_value_and_range(changes, field):
    with pytest.raises(ClusterSpecError) as raised:
        config(**changes)

    assert raised.value.field == field
    assert f"Invalid {field}=" in str(raised.value)


def test_config_accepts_rendered_template_text():
    assert config(max_secondary_workers="4", cooldown_period="2.5").max_secondary_workers == 4


def test_durations_accept_seconds_text_and_timedelta_as_the_autoscaling_policy_does():
    built = config(cooldown_period="2m", scale_down_delay=timedelta(seconds=45))

    assert (built.cooldown_period, built.scale_down_delay) == (120.0, 45.0)
    assert config(cooldown_period=0.5).cooldown_period == 0.5
