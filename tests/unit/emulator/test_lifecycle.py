"""When the emulator deletes a cluster by its lifecycle config, with and without a time scale."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from google.cloud import dataproc_v1

from dask_dataproc_emulator.lifecycle import deletion_reason

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
State = dataproc_v1.ClusterStatus.State


def cluster(state=State.RUNNING, idle_since: datetime | None = CREATED, **lifecycle) -> dataproc_v1.Cluster:
    message = dataproc_v1.Cluster(
        cluster_name="c",
        config={"lifecycle_config": lifecycle},
        status={"state": state, "state_start_time": CREATED + timedelta(seconds=30)},
        status_history=[{"state": State.CREATING, "state_start_time": CREATED}],
    )
    if idle_since is not None:
        message.config.lifecycle_config.idle_start_time = idle_since
    return message


def at(minutes: float) -> datetime:
    return CREATED + timedelta(minutes=minutes)


def test_an_idle_cluster_is_deleted_once_its_idle_ttl_has_passed():
    idle = cluster(idle_delete_ttl=timedelta(minutes=10))

    assert deletion_reason(idle, at=at(9.9)) is None
    assert deletion_reason(idle, at=at(10)) == "idle for 600s, idle_delete_ttl 600s"


def test_a_cluster_running_a_job_is_not_idle():
    busy = cluster(idle_since=None, idle_delete_ttl=timedelta(minutes=10))

    assert deletion_reason(busy, at=at(60)) is None


def test_a_cluster_is_deleted_at_its_maximum_age_even_when_busy():
    busy = cluster(idle_since=None, auto_delete_ttl=timedelta(hours=1))

    assert deletion_reason(busy, at=at(59)) is None
    assert deletion_reason(busy, at=at(60)) == "3600s old, auto_delete_ttl 3600s"


def test_a_cluster_is_deleted_at_its_auto_delete_time():
    planned = cluster(idle_since=None, auto_delete_time=at(30))

    assert deletion_reason(planned, at=at(29)) is None
    assert deletion_reason(planned, at=at(30)).startswith("auto_delete_time")


def test_the_time_scale_makes_ttls_pass_faster():
    idle = cluster(idle_delete_ttl=timedelta(minutes=10))

    assert deletion_reason(idle, at=CREATED + timedelta(seconds=9), time_scale=60) is None
    assert deletion_reason(idle, at=CREATED + timedelta(seconds=10), time_scale=60) is not None


def test_the_time_scale_applies_to_auto_delete_time_from_creation():
    planned = cluster(idle_since=None, auto_delete_time=at(60))

    assert deletion_reason(planned, at=CREATED + timedelta(seconds=59), time_scale=60) is None
    assert deletion_reason(planned, at=CREATED + timedelta(seconds=60), time_scale=60) is not None


def test_clusters_in_error_or_without_ttls_are_left_alone():
    assert deletion_reason(cluster(State.ERROR, idle_delete_ttl=timedelta(minutes=10)), at=at(600)) is None
    assert deletion_reason(cluster(), at=at(600)) is None


def test_a_stopped_cluster_is_idle_and_its_ttls_keep_counting():
    stopped = cluster(State.STOPPED, idle_delete_ttl=timedelta(minutes=10))

    assert deletion_reason(stopped, at=at(10)) == "idle for 600s, idle_delete_ttl 600s"


def test_a_cluster_being_stopped_or_started_is_left_alone_until_it_settles():
    for state in (State.STOPPING, State.STARTING):
        assert deletion_reason(cluster(state, idle_delete_ttl=timedelta(minutes=10)), at=at(600)) is None


def test_the_command_line_sets_the_time_scale(tmp_path):
    import pytest

    from dask_dataproc_emulator.__main__ import parse_args

    assert parse_args(["--data-dir", str(tmp_path)]).time_scale == 1
    assert parse_args(["--data-dir", str(tmp_path), "--time-scale", "60"]).time_scale == 60
    with pytest.raises(SystemExit):
        parse_args(["--data-dir", str(tmp_path), "--time-scale", "0"])


def test_the_command_line_refuses_a_start_timeout_that_is_not_positive(tmp_path, capsys):
    import pytest

    from dask_dataproc_emulator.__main__ import parse_args

    assert parse_args(["--data-dir", str(tmp_path), "--start-timeout", "0.5"]).start_timeout == 0.5
    with pytest.raises(SystemExit) as raised:
        parse_args(["--data-dir", str(tmp_path), "--start-timeout", "0"])
    assert raised.value.code == 2
    assert "--start-timeout must be more than 0 seconds, not 0" in capsys.readouterr().err
