"""Operator that creates or updates a Dataproc autoscaling policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider.operators.base import DaskDataprocBaseOperator
from airflow_dask_provider.scaling.autoscaling_policy import AutoscalingPolicySpec
from airflow_dask_provider.tasks import is_literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Every field of :class:`AutoscalingPolicySpec`; each can be given to the operator directly.
POLICY_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(AutoscalingPolicySpec))


class DaskDataprocCreateAutoscalingPolicyOperator(DaskDataprocBaseOperator):
    """Create a Dataproc autoscaling policy, or bring an existing one of the same id up to date.

    Idempotent: a policy with the same id and the same content is left alone, one with other content
    is updated. Every field of :class:`~airflow_dask_provider.scaling.autoscaling_policy.AutoscalingPolicySpec`
    is a keyword (``policy_id``, ``worker_max_instances``, ``scale_up_factor``, ``cooldown_period``,
    ...), all templated, and is checked as Dataproc checks it (bounds, factors in [0, 1], cooldown from
    2 minutes to 1 day, graceful decommission timeout up to 1 day): literal values when the DAG is
    parsed, templated ones when the task runs, always before any API call.

    Attach the policy to a cluster with the create operator's ``autoscaling_policy_uri``, e.g.
    ``"{{ ti.xcom_pull(task_ids='create_policy')['name'] }}"``. Dataproc's autoscaler reacts to YARN
    memory only: for Dask's standalone runtime use
    :class:`~airflow_dask_provider.operators.scaling.DaskDataprocAutoscaleOperator` instead.

    Returns (and pushes to XCom) ``name``, ``policy_id``, ``action`` (``created``, ``updated`` or
    ``unchanged``) and ``policy``, the policy as plain data.
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseOperator.template_fields, *POLICY_FIELDS)
    template_fields_renderers = {"labels": "json"}
    ui_color = "#fde2a0"

    def __init__(self, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in POLICY_FIELDS if name in kwargs}
        super().__init__(**kwargs)
        self._given_fields = tuple(values)
        for name in POLICY_FIELDS:
            setattr(self, name, values.get(name))
        if is_literal(values):
            self.build_spec()

    def build_spec(self) -> AutoscalingPolicySpec:
        """Return the validated policy from the keywords given to the operator."""
        return AutoscalingPolicySpec(**{name: getattr(self, name) for name in self._given_fields})

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_dask_provider.hooks.autoscaling import policy_name

        spec = self.build_spec()
        wanted = spec.to_dict()
        where = {"project_id": self.resolved_project_id, "region": self.region}
        name = policy_name(**where, policy_id=spec.policy_id)
        scaling = self.hook

        existing = scaling.get_autoscaling_policy(**where, policy_id=spec.policy_id)
        if existing is None:
            created = scaling.create_autoscaling_policy(**where, policy=wanted)
            if created is not None:
                self.log.info("Created autoscaling policy %s", name)
                return {"name": name, "policy_id": spec.policy_id, "action": "created", "policy": created}
            self.log.info("Autoscaling policy %s was created concurrently; comparing it", name)
            existing = scaling.get_autoscaling_policy(**where, policy_id=spec.policy_id)
        if existing == wanted:
            self.log.info("Autoscaling policy %s exists with the same content; nothing to do", name)
            return {"name": name, "policy_id": spec.policy_id, "action": "unchanged", "policy": existing}
        changed = sorted(key for key in wanted if (existing or {}).get(key) != wanted[key])
        self.log.info("Updating autoscaling policy %s (changed: %s)", name, ", ".join(changed))
        updated = scaling.update_autoscaling_policy(**where, policy=wanted)
        return {"name": name, "policy_id": spec.policy_id, "action": "updated", "policy": updated}
