"""The scaler's calls, with a mocked scaling hook: what it resizes, and whom it retires first."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.hooks.dask_scheduler import SchedulerLoad
from airflow_dask_provider.hooks.resources import WorkerGroups
from airflow_dask_provider.scaling.rule import GROW, HOLD, SHRINK, ScalingConfig
from airflow_dask_provider.scaling.scaler import ClusterGone, DaskSecondaryScaler

PRIMARY = ("c-w-0", "c-w-1")


def groups(secondary: tuple[str, ...] = (), state: str = "RUNNING", target: int | None = None) -> WorkerGroups:
    return WorkerGroups(
        cluster_name="c",
        state=state,
        scheduler_address="tcp://c-m:8786",
        primary=PRIMARY,
        secondary=secondary,
        secondary_target=len(secondary) if target is None else target,
    )


def load(target: int, nodes: tuple[str, ...]) -> SchedulerLoad:
    workers = tuple(
        {"address": f"tcp://10.0.0.{i}:4000", "name": node, "host": "10.0.0.{i}", "nthreads": 1, "processing": 0}
        for i, node in enumerate(nodes)
    )
    return SchedulerLoad(adaptive_target=target, queued=0, processing=0, workers=workers)


@pytest.fixture
def hook(mocker):
    return mocker.MagicMock()


@pytest.fixture
def scaler(hook):
    clock = itertools.count()
    config = ScalingConfig(max_secondary_workers=4, wait_count=1, cooldown_period=0, scale_down_delay=0)
    return DaskSecondaryScaler(
        scaling_hook=hook,
        project_id="p",
        region="r",
        cluster_name="c",
        config=config,
        graceful_decommission_timeout=60,
        clock=lambda: float(next(clock)),
    )


def test_grow_resizes_the_secondary_group_without_retiring(scaler, hook):
    hook.get_worker_groups.return_value = groups()
    hook.dask_scheduler.get_load.return_value = load(6, PRIMARY)

    decision = scaler.step()

    assert (decision.action, decision.target) == (GROW, 4)
    hook.dask_scheduler.retire_workers.assert_not_called()
    kwargs = hook.resize_secondary_workers.call_args.kwargs
    assert (kwargs["num_instances"], kwargs["graceful_decommission_timeout"]) == (4, 60)


def test_shrink_retires_the_workers_of_the_leaving_nodes_first(scaler, hook, mocker):
    secondary = ("c-sw-aaaa", "c-sw-bbbb", "c-sw-cccc")
    hook.get_worker_groups.return_value = groups(secondary)
    hook.dask_scheduler.get_load.return_value = load(3, PRIMARY + secondary)
    hook.dask_scheduler.retire_workers.side_effect = lambda **kw: list(kw["addresses"])
    calls = mocker.MagicMock()
    calls.attach_mock(hook.dask_scheduler.retire_workers, "retire")
    calls.attach_mock(hook.resize_secondary_workers, "resize")

    decision = scaler.step()

    assert (decision.action, decision.target) == (SHRINK, 1)
    assert [c[0] for c in calls.mock_calls] == ["retire", "resize"]
    assert hook.dask_scheduler.retire_workers.call_args.kwargs["addresses"] == [
        "tcp://10.0.0.3:4000",
        "tcp://10.0.0.4:4000",
    ]
    assert hook.resize_secondary_workers.call_args.kwargs["num_instances"] == 1


@pytest.mark.parametrize("cluster", [groups(state="UPDATING"), groups(("c-sw-aaaa",), target=3)])
def test_a_resize_under_way_holds(scaler, hook, cluster):
    hook.get_worker_groups.return_value = cluster
    hook.dask_scheduler.get_load.return_value = load(20, PRIMARY)

    assert scaler.step().action == HOLD
    hook.resize_secondary_workers.assert_not_called()


@pytest.mark.parametrize("cluster", [None, groups(state="DELETING")])
def test_a_missing_or_deleting_cluster_ends_scaling(scaler, hook, cluster):
    hook.get_worker_groups.return_value = cluster

    with pytest.raises(ClusterGone):
        scaler.step()


def test_every_check_is_on_the_timeline(scaler, hook):
    hook.get_worker_groups.return_value = groups()
    hook.dask_scheduler.get_load.return_value = load(6, PRIMARY)
    scaler.step()
    hook.get_worker_groups.return_value = groups(state="UPDATING")
    scaler.step()

    assert [(r.action, r.secondary_requested) for r in scaler.timeline.rows] == [("grow", 4), ("hold", 4)]


def test_scale_to_minimum_retires_then_waits_for_the_resize(scaler, hook):
    secondary = ("c-sw-aaaa", "c-sw-bbbb")
    hook.get_worker_groups.side_effect = [groups(secondary), groups(secondary, state="UPDATING"), groups()]
    hook.dask_scheduler.get_load.return_value = load(6, PRIMARY + secondary)
    hook.dask_scheduler.retire_workers.side_effect = lambda **kw: list(kw["addresses"])

    scaler.scale_to_minimum("job ended", timeout=60, interval=0, sleep=lambda s: None)

    assert hook.dask_scheduler.retire_workers.call_args.kwargs["addresses"] == [
        "tcp://10.0.0.2:4000",
        "tcp://10.0.0.3:4000",
    ]
    assert hook.resize_secondary_workers.call_args.kwargs["num_instances"] == 0
    assert [d.action for d in scaler.decisions] == [SHRINK, HOLD]


def test_removing_other_nodes_than_retired_is_logged(scaler, hook, caplog):
    secondary = ("c-sw-aaaa", "c-sw-bbbb")
    hook.get_worker_groups.return_value = groups(secondary)
    hook.dask_scheduler.get_load.return_value = load(3, PRIMARY + secondary)
    hook.dask_scheduler.retire_workers.side_effect = lambda **kw: list(kw["addresses"])
    scaler.step()  # retires c-sw-bbbb
    hook.get_worker_groups.return_value = groups(("c-sw-bbbb",))  # but Dataproc removed c-sw-aaaa

    with caplog.at_level("WARNING"):
        scaler.step()

    assert "Dataproc removed nodes ['c-sw-aaaa']" in caplog.text


def test_a_steady_hold_is_logged_once(scaler, hook, caplog):
    hook.get_worker_groups.return_value = groups()
    hook.dask_scheduler.get_load.side_effect = [load(2, PRIMARY), load(1, PRIMARY), load(6, PRIMARY)]

    with caplog.at_level("INFO", logger="airflow_dask_provider.scaling.scaler"):
        for _ in range(3):
            scaler.step()

    logged = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert len(logged) == 2
    assert logged[0].startswith("Scaling decision: hold 0 secondary workers: load matches")
    assert logged[1].startswith("Scaling decision: grow secondary workers 0 -> 4")


def test_nodes_without_a_matching_worker_are_named_in_a_warning(scaler, hook, caplog):
    secondary = ("c-sw-aaaa",)
    hook.get_worker_groups.return_value = groups(secondary)
    hook.dask_scheduler.get_load.return_value = load(2, ("tcp://10.0.0.9:4000",) + PRIMARY)  # named by address

    with caplog.at_level("WARNING"):
        assert scaler.step().action == SHRINK

    hook.dask_scheduler.retire_workers.assert_not_called()
    assert "No Dask worker is named after nodes ['c-sw-aaaa']" in caplog.text


@pytest.mark.parametrize(("given", "seconds"), [("1m", 60.0), (timedelta(seconds=90), 90.0), (30, 30.0)])
def test_the_graceful_decommission_timeout_reads_as_the_autoscaling_policy_s_does(hook, given, seconds):
    config = ScalingConfig(max_secondary_workers=4)
    scaler = DaskSecondaryScaler(
        scaling_hook=hook,
        project_id="p",
        region="r",
        cluster_name="c",
        config=config,
        graceful_decommission_timeout=given,
    )

    assert scaler.graceful_decommission_timeout == seconds


def test_a_graceful_decommission_timeout_over_a_day_is_refused(hook):
    with pytest.raises(ClusterSpecError, match="Invalid graceful_decommission_timeout='2d'"):
        DaskSecondaryScaler(
            scaling_hook=hook,
            project_id="p",
            region="r",
            cluster_name="c",
            config=ScalingConfig(max_secondary_workers=4),
            graceful_decommission_timeout="2d",
        )
