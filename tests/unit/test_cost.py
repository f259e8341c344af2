"""Node-hours and estimated cost from the price table."""

from __future__ import annotations

import pytest

from airflow_dask_provider.cost import BUILT_IN_PRICES, ClusterUsage, NodeGroup, estimate, machine_shape, merged_table

HOUR = 3600.0


def group(role="worker", machine_type="n2-standard-4", count=2, preemptibility="standard", **disk) -> NodeGroup:
    values = {"boot_disk_type": "pd-balanced", "boot_disk_size_gb": 100, "num_local_ssds": 0, **disk}
    return NodeGroup(role=role, machine_type=machine_type, count=count, preemptibility=preemptibility, **values)


def usage(*groups: NodeGroup) -> ClusterUsage:
    return ClusterUsage(cluster_name="c", cluster_uuid="u", created_at=1000.0, groups=groups)


@pytest.mark.parametrize(
    "machine_type, shape",
    [
        ("n2-standard-4", ("n2", 4, 16)),
        ("n1-standard-8", ("n1", 8, 30)),
        ("n2-highmem-2", ("n2", 2, 16)),
        ("e2-highcpu-16", ("e2", 16, 16)),
        ("n2-custom-6-20480", ("n2", 6, 20)),
        ("custom-2-4096", ("n1", 2, 4)),
        ("e2-medium", None),
    ],
)
def test_machine_shapes_come_from_the_type_name(machine_type, shape):
    assert machine_shape(machine_type) == shape


def test_an_hour_of_three_n2_standard_4_nodes_is_priced_from_the_list_prices():
    cost = estimate(usage(group("master", count=1), group(count=2)), ended_at=1000.0 + HOUR)

    node_price = 4 * 0.031611 + 16 * 0.004237
    assert cost["node_hours"] == {"n2-standard-4 standard": 3.0}
    assert cost["compute"] == pytest.approx(3 * node_price, abs=1e-6)
    assert cost["dataproc_fee"] == pytest.approx(3 * 4 * 0.010)
    assert cost["disks"] == pytest.approx(3 * 100 * 0.10 / 730, abs=1e-6)
    assert cost["estimated_cost"] == pytest.approx(cost["compute"] + cost["dataproc_fee"] + cost["disks"], abs=1e-6)
    assert cost["currency"] == "USD"


def test_preemptible_nodes_are_counted_apart_at_the_preemptible_factor():
    cost = estimate(usage(group(count=1), group("secondary", count=1, preemptibility="spot")), ended_at=1000.0 + HOUR)

    assert cost["node_hours"] == {"n2-standard-4 spot": 1.0, "n2-standard-4 standard": 1.0}
    assert cost["compute"] == pytest.approx(1.3 * (4 * 0.031611 + 16 * 0.004237), abs=1e-6)


def test_local_ssds_are_priced_per_gb_month():
    plain = estimate(usage(group(count=1)), ended_at=1000.0 + HOUR)["disks"]
    with_ssd = estimate(usage(group(count=1, num_local_ssds=1)), ended_at=1000.0 + HOUR)["disks"]

    assert with_ssd - plain == pytest.approx(375 * 0.08 / 730, abs=1e-6)


def test_an_explicit_machine_type_price_wins_over_the_family_rates():
    table = merged_table({"machine_types": {"n2-standard-4": {"standard": 1.0, "spot": 0.25}}})

    cost = estimate(
        usage(group(count=1), group(count=2, preemptibility="spot")), ended_at=1000.0 + HOUR, price_table=table
    )

    assert cost["compute"] == pytest.approx(1.0 + 2 * 0.25)


def test_an_unknown_machine_type_counts_its_node_hours_but_is_left_out_of_the_cost():
    cost = estimate(usage(group(machine_type="e2-medium", count=2)), ended_at=1000.0 + 2 * HOUR)

    assert cost["node_hours"] == {"e2-medium standard": 4.0}
    assert cost["unpriced_node_hours"] == {"e2-medium standard": 4.0}
    assert cost["estimated_cost"] == 0
    assert "not priced" in cost["message"]


def test_overrides_merge_nested_tables_key_by_key_and_leave_the_built_in_one_alone():
    table = merged_table({"currency": "EUR", "machine_families": {"n2": {"vcpu_hour": 0.03}}}, {"source": "contract"})

    assert table["currency"] == "EUR" and table["source"] == "contract"
    assert table["machine_families"]["n2"] == {"vcpu_hour": 0.03, "gb_hour": 0.004237}
    assert table["machine_families"]["e2"] == BUILT_IN_PRICES["machine_families"]["e2"]
    assert BUILT_IN_PRICES["currency"] == "USD"


def test_the_message_names_the_cluster_node_hours_cost_and_source():
    cost = estimate(usage(group(count=2)), ended_at=1000.0 + HOUR / 2)

    assert cost["message"].startswith("Cost of cluster c: 0.50 h, 1.00 node-hours (n2-standard-4 standard: 1.00); ")
    assert "estimated USD " in cost["message"] and "from built-in list prices" in cost["message"]


def test_usage_survives_a_round_trip_through_json_safe_data():
    original = usage(group("master", count=1), group(count=2))

    assert ClusterUsage.from_dict(original.as_dict()) == original
