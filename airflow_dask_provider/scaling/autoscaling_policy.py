"""A typed, validated Dataproc autoscaling policy (``AutoscalingPolicyService``), checked as Dataproc checks it.

Dataproc's own autoscaler reads YARN pending memory only, so such a policy matters for the yarn
runtime and YARN work on the same cluster; the standalone runtime's Dask load never moves it (see
:mod:`airflow_dask_provider.scaling.scaler` for Dask-aware scaling). :meth:`AutoscalingPolicySpec.to_dict`
gives the plain data :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook` sends and reads.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.validation import parse_duration, validate_labels, whole_number

#: Dataproc's rule for policy ids: 3 to 50 letters, digits, '_' and '-', not starting or ending with '_' or '-'.
POLICY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,48}[A-Za-z0-9]$")
#: Dataproc's bounds and defaults.
COOLDOWN_BOUNDS_SECONDS = defaults.POLICY_COOLDOWN_BOUNDS_SECONDS
COOLDOWN_DEFAULT = defaults.POLICY_COOLDOWN_DEFAULT
DECOMMISSION_BOUNDS_SECONDS = defaults.POLICY_DECOMMISSION_BOUNDS_SECONDS
DECOMMISSION_DEFAULT = defaults.POLICY_DECOMMISSION_DEFAULT
PRIMARY_MIN_DEFAULT = defaults.MIN_PRIMARY_WORKERS
MAX_INSTANCES = defaults.MAX_INSTANCES


def _fraction(field: str, value: Any) -> float:
    try:
        number = float(value)
        if isinstance(value, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise ClusterSpecError(field, value, "must be a number from 0.0 to 1.0") from None
    if not 0.0 <= number <= 1.0:
        raise ClusterSpecError(field, value, "must be from 0.0 to 1.0 (Dataproc's range)")
    return number


def _duration(field: str, value: Any, bounds: tuple[int, int], allowed: str) -> int:
    seconds = parse_duration(field, value)
    if not bounds[0] <= seconds <= bounds[1]:
        raise ClusterSpecError(field, value, allowed)
    return seconds


@dataclasses.dataclass(frozen=True)
class AutoscalingPolicySpec:
    """Describe a Dataproc autoscaling policy with a basic YARN algorithm; every value is checked.

    Durations accept seconds, a ``timedelta`` or text such as ``"2m"``; numbers accept numeric text,
    so rendered templates validate the same way. The field names are Dataproc's, and the Dask-aware
    scaling rule (:mod:`~airflow_dask_provider.scaling.rule`) names and reads its durations alike.

    :param policy_id: the policy's id: 3 to 50 letters, digits, '_' and '-'.
    :param worker_max_instances: most primary workers.
    :param worker_min_instances: fewest primary workers, at least 2 (Dataproc's default).
    :param secondary_max_instances: most secondary workers (default 0).
    :param secondary_min_instances: fewest secondary workers (default 0).
    :param worker_weight: share of primary workers when both groups scale (default 1).
    :param secondary_weight: share of secondary workers (default 1).
    :param scale_up_factor: fraction of pending YARN memory to add nodes for, 0.0 to 1.0.
    :param scale_down_factor: fraction of available YARN memory to remove nodes for, 0.0 to 1.0.
    :param scale_up_min_worker_fraction: smallest change worth a scale-up, 0.0 to 1.0.
    :param scale_down_min_worker_fraction: smallest change worth a scale-down, 0.0 to 1.0.
    :param graceful_decommission_timeout: how long YARN work may finish on removed nodes, 0 to 1 day.
    :param cooldown_period: time between two scaling evaluations, 2 minutes to 1 day.
    :param labels: labels of the policy.
    """

    policy_id: str
    worker_max_instances: int
    worker_min_instances: int = PRIMARY_MIN_DEFAULT
    secondary_max_instances: int = 0
    secondary_min_instances: int = 0
    worker_weight: int = 1
    secondary_weight: int = 1
    scale_up_factor: float = 0.5
    scale_down_factor: float = 1.0
    scale_up_min_worker_fraction: float = 0.0
    scale_down_min_worker_fraction: float = 0.0
    graceful_decommission_timeout: int | float | str | timedelta = DECOMMISSION_DEFAULT
    cooldown_period: int | float | str | timedelta = COOLDOWN_DEFAULT
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.policy_id, str) or not POLICY_ID.match(self.policy_id):
            raise ClusterSpecError(
                "policy_id",
                self.policy_id,
                "must be 3 to 50 letters, digits, '_' or '-', not starting or ending with '_' or '-'",
            )
        worker_min = whole_number("worker_min_instances", self.worker_min_instances, PRIMARY_MIN_DEFAULT, MAX_INSTANCES)
        worker_max = whole_number("worker_max_instances", self.worker_max_instances, PRIMARY_MIN_DEFAULT, MAX_INSTANCES)
        if worker_min > worker_max:
            raise ClusterSpecError(
                "worker_min_instances", self.worker_min_instances, f"must not exceed worker_max_instances={worker_max}"
            )
        secondary_min = whole_number("secondary_min_instances", self.secondary_min_instances, 0, MAX_INSTANCES)
        secondary_max = whole_number("secondary_max_instances", self.secondary_max_instances, 0, MAX_INSTANCES)
        if secondary_min > secondary_max:
            raise ClusterSpecError(
                "secondary_min_instances",
                self.secondary_min_instances,
                f"must not exceed secondary_max_instances={secondary_max}",
            )
        for field, value in (
            ("worker_min_instances", worker_min),
            ("worker_max_instances", worker_max),
            ("secondary_min_instances", secondary_min),
            ("secondary_max_instances", secondary_max),
            ("worker_weight", whole_number("worker_weight", self.worker_weight, 1, MAX_INSTANCES)),
            ("secondary_weight", whole_number("secondary_weight", self.secondary_weight, 1, MAX_INSTANCES)),
        ):
            set_(self, field, value)
        for field in (
            "scale_up_factor",
            "scale_down_factor",
            "scale_up_min_worker_fraction",
            "scale_down_min_worker_fraction",
        ):
            set_(self, field, _fraction(field, getattr(self, field)))
        set_(
            self,
            "graceful_decommission_timeout",
            _duration(
                "graceful_decommission_timeout",
                self.graceful_decommission_timeout,
                DECOMMISSION_BOUNDS_SECONDS,
                "must be from 0 seconds to 1 day (Dataproc's range)",
            ),
        )
        set_(
            self,
            "cooldown_period",
            _duration(
                "cooldown_period",
                self.cooldown_period,
                COOLDOWN_BOUNDS_SECONDS,
                "must be from 2 minutes to 1 day (Dataproc's range)",
            ),
        )
        set_(self, "labels", validate_labels(self.labels))

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as the plain data the hook sends and reads back."""
        return {
            "id": self.policy_id,
            "worker_config": {
                "min_instances": self.worker_min_instances,
                "max_instances": self.worker_max_instances,
                "weight": self.worker_weight,
            },
            "secondary_worker_config": {
                "min_instances": self.secondary_min_instances,
                "max_instances": self.secondary_max_instances,
                "weight": self.secondary_weight,
            },
            "basic_algorithm": {
                "cooldown_period": self.cooldown_period,
                "yarn_config": {
                    "scale_up_factor": self.scale_up_factor,
                    "scale_down_factor": self.scale_down_factor,
                    "scale_up_min_worker_fraction": self.scale_up_min_worker_fraction,
                    "scale_down_min_worker_fraction": self.scale_down_min_worker_fraction,
                    "graceful_decommission_timeout": self.graceful_decommission_timeout,
                },
            },
            "labels": dict(self.labels),
        }
