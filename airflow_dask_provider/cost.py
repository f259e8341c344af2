"""Node-hours and an estimated cost of a cluster's life, from a documented, overridable price table.

The delete operator reads the cluster's nodes and creation time before deleting it
(:meth:`~airflow_dask_provider.hooks.clusters.ClusterCalls.get_cluster_usage`) and, once it is gone, logs one line
and returns the :func:`estimate` in XCom (``cost``)::

    Cost of cluster dask-etl-4ec3ac573d: 0.75 h, 5.25 node-hours (n2-standard-4 preemptible: 3.00,
    n2-standard-4 standard: 2.25); estimated USD 1.0787 (compute 0.6118, Dataproc fee 0.2100, disks
    0.2568) from built-in list prices (us-central1, on-demand)

(one line in the log; a master and two workers for 45 minutes, plus four preemptible secondaries
with a local SSD each).

**What is counted.** Every node of the cluster as it is at deletion, from the cluster's creation to
the end of its deletion: the Compute Engine price of its machine type (by vCPU and memory, or an
explicit price per machine type), the Dataproc fee per vCPU-hour, and its boot disk and local SSDs.
Resizes during the cluster's life are not seen (the current size is counted for the whole life), nor
are network, Cloud Storage, committed-use or sustained-use discounts. It is an estimate for
comparing runs and spotting waste, not an invoice.

**The built-in table** (:data:`BUILT_IN_PRICES`) holds Google's published on-demand list prices of
us-central1 in USD: per vCPU-hour and GB-hour of the n1, n2, n2d, e2 and c2 families, the Dataproc fee
of 0.010 USD per vCPU-hour, and disks per GB-month. Spot and preemptible VMs are priced at
``preemptible_factor`` (0.3) of the on-demand price: their real discount (60 to 91 %) changes with
time and region.

**Overriding it.** A JSON object merged over the built-in table (nested objects key by key) comes
from ``[dask_dataproc] price_table`` (a JSON file's path, or the JSON itself) and from the delete
operator's ``price_table`` argument, in that order. For example, contract prices of one machine
type, in euros::

    {"currency": "EUR", "source": "contract 2026",
     "machine_types": {"n2-standard-4": {"standard": 0.17, "preemptible": 0.045}}}

Keys: ``currency``, ``source`` (named in the log line), ``machine_families`` (family to
``{"vcpu_hour", "gb_hour"}``), ``machine_types`` (machine type to ``{"standard", "preemptible",
"spot"}`` per node-hour, which wins over the family's rates), ``preemptible_factor``,
``dataproc_vcpu_hour``, ``disk_gb_month`` (disk type, and ``local-ssd``, to price per GB-month),
``local_ssd_gb`` (size of one local SSD) and ``hours_per_month``. A machine type the table cannot
price still has its node-hours counted; the line says it was left out of the cost. A disk type the
table does not know counts as free.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

#: Google's on-demand list prices, us-central1, USD (compute and Dataproc pricing pages).
BUILT_IN_PRICES: dict[str, Any] = {
    "currency": "USD",
    "source": "built-in list prices (us-central1, on-demand)",
    "machine_families": {
        "n1": {"vcpu_hour": 0.031611, "gb_hour": 0.004237},
        "n2": {"vcpu_hour": 0.031611, "gb_hour": 0.004237},
        "n2d": {"vcpu_hour": 0.027502, "gb_hour": 0.003686},
        "e2": {"vcpu_hour": 0.021811, "gb_hour": 0.002923},
        "c2": {"vcpu_hour": 0.03398, "gb_hour": 0.00455},
    },
    "machine_types": {},
    "preemptible_factor": 0.3,
    "dataproc_vcpu_hour": 0.010,
    "disk_gb_month": {"pd-standard": 0.04, "pd-balanced": 0.10, "pd-ssd": 0.17, "local-ssd": 0.08},
    "local_ssd_gb": 375,
    "hours_per_month": 730,
}

#: Memory per vCPU (GB) of predefined machine types: (family, kind) or kind alone for every other family.
_MEMORY_PER_VCPU = {
    ("n1", "standard"): 3.75,
    ("n1", "highmem"): 6.5,
    ("n1", "highcpu"): 0.9,
    "standard": 4.0,
    "highmem": 8.0,
    "highcpu": 1.0,
}
_PREDEFINED = re.compile(r"^(?P<family>[a-z0-9]+)-(?P<kind>standard|highmem|highcpu)-(?P<vcpus>\d+)$")
_CUSTOM = re.compile(r"^(?:(?P<family>[a-z0-9]+)-)?custom-(?P<vcpus>\d+)-(?P<memory_mb>\d+)(?:-ext)?$")


@dataclasses.dataclass(frozen=True)
class NodeGroup:
    """Nodes of one kind in a cluster: the master, the primary workers or the secondary workers."""

    role: str
    machine_type: str
    count: int
    #: ``standard`` (on-demand), ``preemptible`` or ``spot``.
    preemptibility: str
    boot_disk_type: str
    boot_disk_size_gb: int
    num_local_ssds: int


@dataclasses.dataclass(frozen=True)
class ClusterUsage:
    """What a cluster costs per hour and since when: its node groups and its creation time."""

    cluster_name: str
    cluster_uuid: str
    #: Seconds since the epoch.
    created_at: float
    groups: tuple[NodeGroup, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the usage as JSON-safe data (the delete operator keeps it in XCom across a deferral)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterUsage:
        """Rebuild a usage from :meth:`as_dict`."""
        groups = tuple(NodeGroup(**group) for group in data["groups"])
        return cls(**{**data, "groups": groups})


def machine_shape(machine_type: str) -> tuple[str, float, float] | None:
    """Return (family, vCPUs, memory GB) of a predefined or custom machine type, None if unknown."""
    match = _PREDEFINED.match(machine_type)
    if match:
        family, vcpus = match["family"], int(match["vcpus"])
        per_vcpu = _MEMORY_PER_VCPU.get((family, match["kind"]), _MEMORY_PER_VCPU[match["kind"]])
        return family, float(vcpus), vcpus * per_vcpu
    match = _CUSTOM.match(machine_type)
    if match:
        return match["family"] or "n1", float(match["vcpus"]), int(match["memory_mb"]) / 1024
    return None


def merged_table(*overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the built-in table with each override merged over it, nested objects key by key."""

    def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
        for key, value in override.items():
            if isinstance(value, Mapping) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    table = copy.deepcopy(BUILT_IN_PRICES)
    for override in overrides:
        if override:
            merge(table, override)
    return table


def _node_hour_price(group: NodeGroup, table: Mapping[str, Any]) -> tuple[float | None, float]:
    """Return (Compute Engine price per node-hour or None if unknown, vCPUs per node)."""
    shape = machine_shape(group.machine_type)
    vcpus = shape[1] if shape else 0.0
    explicit = table.get("machine_types", {}).get(group.machine_type, {})
    if group.preemptibility in explicit:
        return float(explicit[group.preemptibility]), vcpus
    on_demand = explicit.get("standard")
    if on_demand is None and shape is not None:
        rates = table.get("machine_families", {}).get(shape[0])
        if rates:
            on_demand = shape[1] * rates["vcpu_hour"] + shape[2] * rates["gb_hour"]
    if on_demand is None:
        return None, vcpus
    factor = 1.0 if group.preemptibility == "standard" else float(table["preemptible_factor"])
    return float(on_demand) * factor, vcpus


def _disk_price_per_hour(group: NodeGroup, table: Mapping[str, Any]) -> float | None:
    prices = table.get("disk_gb_month", {})
    hours = float(table["hours_per_month"])
    boot = prices.get(group.boot_disk_type)
    if boot is None:
        return None
    local = group.num_local_ssds * float(table["local_ssd_gb"]) * float(prices.get("local-ssd", 0.0))
    return (group.boot_disk_size_gb * float(boot) + local) / hours


def estimate(usage: ClusterUsage, *, ended_at: float, price_table: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the node-hours and the estimated cost of a cluster that lived until ``ended_at``.

    The result is JSON-safe: ``hours`` (the cluster's life), ``node_hours`` (``"MACHINE_TYPE
    PREEMPTIBILITY"`` to node-hours), ``unpriced_node_hours``, ``compute``, ``dataproc_fee``, ``disks``,
    ``estimated_cost`` (their sum), ``currency``, ``price_source`` and ``message`` (the log line).

    :param usage: the cluster's nodes and creation time.
    :param ended_at: when the cluster was gone, in seconds since the epoch.
    :param price_table: a complete table (see :func:`merged_table`); the built-in one when omitted.
    """
    table = price_table if price_table is not None else BUILT_IN_PRICES
    hours = max(ended_at - usage.created_at, 0.0) / 3600
    node_hours: dict[str, float] = {}
    unpriced: dict[str, float] = {}
    compute = fee = disks = 0.0
    for group in usage.groups:
        if group.count <= 0:
            continue
        key = f"{group.machine_type} {group.preemptibility}"
        group_hours = group.count * hours
        node_hours[key] = node_hours.get(key, 0.0) + group_hours
        price, vcpus = _node_hour_price(group, table)
        disk = _disk_price_per_hour(group, table)
        if price is None:
            unpriced[key] = unpriced.get(key, 0.0) + group_hours
            continue
        compute += price * group_hours
        fee += vcpus * float(table["dataproc_vcpu_hour"]) * group_hours
        disks += (disk or 0.0) * group_hours
    result = {
        "cluster_name": usage.cluster_name,
        "hours": round(hours, 6),
        "node_hours": {key: round(value, 6) for key, value in sorted(node_hours.items())},
        "unpriced_node_hours": {key: round(value, 6) for key, value in sorted(unpriced.items())},
        "compute": round(compute, 6),
        "dataproc_fee": round(fee, 6),
        "disks": round(disks, 6),
        "estimated_cost": round(compute + fee + disks, 6),
        "currency": str(table["currency"]),
        "price_source": str(table["source"]),
    }
    result["message"] = describe(result)
    return result


def describe(cost: Mapping[str, Any]) -> str:
    """Return the one log line of a cost :func:`estimate`."""
    total = sum(cost["node_hours"].values())
    groups = ", ".join(f"{key}: {value:.2f}" for key, value in cost["node_hours"].items()) or "no nodes"
    line = (
        f"Cost of cluster {cost['cluster_name']}: {cost['hours']:.2f} h, {total:.2f} node-hours ({groups}); "
        f"estimated {cost['currency']} {cost['estimated_cost']:.4f} (compute {cost['compute']:.4f}, "
        f"Dataproc fee {cost['dataproc_fee']:.4f}, disks {cost['disks']:.4f}) from {cost['price_source']}"
    )
    if cost["unpriced_node_hours"]:
        left_out = ", ".join(f"{key}: {value:.2f}" for key, value in cost["unpriced_node_hours"].items())
        line += f"; not priced (not in the price table): {left_out} node-hours"
    return line
