"""Every cluster spec carries an idle-delete TTL, within the ceilings of ``[dask_dataproc]``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_dask_provider.cluster_spec import DaskClusterSpec, format_duration
from airflow_dask_provider.exceptions import ClusterSpecError


@pytest.fixture
def setting(monkeypatch):
    def set_option(option: str, value: str) -> None:
        monkeypatch.setenv(f"AIRFLOW__DASK_DATAPROC__{option.upper()}", value)

    return set_option


def test_without_settings_a_cluster_is_idle_deleted_after_two_hours_and_deleted_after_eight():
    spec = DaskClusterSpec()

    assert (spec.idle_delete_ttl, spec.auto_delete_ttl) == (7200, 8 * 3600)


def test_a_task_may_ask_for_no_maximum_age_when_the_administrator_sets_no_ceiling():
    assert DaskClusterSpec(auto_delete_ttl=None).auto_delete_ttl is None


def test_the_configured_default_idle_ttl_applies_when_none_is_given(setting):
    setting("default_idle_delete_ttl", "1h")

    assert DaskClusterSpec().idle_delete_ttl == 3600
    assert DaskClusterSpec(idle_delete_ttl="3h").idle_delete_ttl == 10800


def test_no_idle_ttl_fails_naming_the_field():
    with pytest.raises(ClusterSpecError) as info:
        DaskClusterSpec(idle_delete_ttl=None)

    assert (info.value.field, info.value.value) == ("idle_delete_ttl", None)
    assert "required" in info.value.allowed


def test_an_empty_configured_default_makes_the_idle_ttl_required(setting):
    setting("default_idle_delete_ttl", "")

    with pytest.raises(ClusterSpecError, match="idle_delete_ttl=None: required"):
        DaskClusterSpec()


@pytest.mark.parametrize("value", ["5h", 5 * 3600, timedelta(hours=5)])
def test_an_idle_ttl_above_the_ceiling_fails_naming_the_ceiling(setting, value):
    setting("max_idle_delete_ttl", "4h")

    with pytest.raises(ClusterSpecError) as info:
        DaskClusterSpec(idle_delete_ttl=value)

    assert info.value.field == "idle_delete_ttl"
    assert "at most 4h ([dask_dataproc] max_idle_delete_ttl" in info.value.allowed


def test_an_idle_ttl_at_the_ceiling_is_accepted(setting):
    setting("max_idle_delete_ttl", "4h")

    assert DaskClusterSpec(idle_delete_ttl="240m").idle_delete_ttl == 14400


def test_a_configured_default_above_the_ceiling_is_lowered_to_it(setting):
    setting("max_idle_delete_ttl", "1h")
    setting("default_auto_delete_ttl", "2d")
    setting("max_auto_delete_ttl", "1d")

    spec = DaskClusterSpec()

    assert (spec.idle_delete_ttl, spec.auto_delete_ttl) == (3600, 86400)


def test_the_configured_maximum_age_applies_when_none_is_given(setting):
    setting("default_auto_delete_ttl", "6h")

    assert DaskClusterSpec().auto_delete_ttl == 21600


def test_with_a_ceiling_and_no_default_a_cluster_gets_the_ceiling_as_its_maximum_age(setting):
    setting("default_auto_delete_ttl", "")
    setting("max_auto_delete_ttl", "1d")

    assert DaskClusterSpec().auto_delete_ttl == 86400


def test_with_an_age_ceiling_no_maximum_age_fails(setting):
    setting("max_auto_delete_ttl", "1d")

    with pytest.raises(ClusterSpecError, match="auto_delete_ttl=None: required: .*max_auto_delete_ttl is 1d"):
        DaskClusterSpec(auto_delete_ttl=None)


def test_a_maximum_age_above_the_ceiling_fails(setting):
    setting("max_auto_delete_ttl", "1d")

    with pytest.raises(ClusterSpecError, match=r"auto_delete_ttl='2d': must be at most 1d"):
        DaskClusterSpec(auto_delete_ttl="2d")


def test_the_ceiling_is_checked_again_when_a_spec_is_changed(setting):
    spec = DaskClusterSpec(idle_delete_ttl="8h")
    setting("max_idle_delete_ttl", "4h")

    import dataclasses

    with pytest.raises(ClusterSpecError, match="max_idle_delete_ttl"):
        dataclasses.replace(spec, num_workers=3)


def test_the_cluster_config_carries_both_ttls(setting):
    setting("default_auto_delete_ttl", "12h")

    lifecycle = DaskClusterSpec(idle_delete_ttl="30m").to_cluster_config(region="r").lifecycle_config

    assert lifecycle.idle_delete_ttl.total_seconds() == 1800
    assert lifecycle.auto_delete_ttl.total_seconds() == 43200


@pytest.mark.parametrize("seconds, text", [(7200, "2h"), (86400, "1d"), (5400, "90m"), (601, "601s")])
def test_durations_are_shown_in_their_shortest_exact_unit(seconds, text):
    assert format_duration(seconds) == text
