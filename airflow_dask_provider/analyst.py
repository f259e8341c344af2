"""The request behind the trigger form of ``dask_analyst_job``: checked, sized and held to the quotas.

The DAG's Params carry a JSON Schema each, which Airflow's trigger form enforces. Anyone can trigger
through the REST API or the CLI too, so the DAG's first task, ``validate_request``, checks the request
again before any cluster exists (:func:`plan_request`): every value against the DAG's own schema,
no unknown field, then the user's quotas (:mod:`airflow_dask_provider.quotas`). A refusal is a
:class:`~airflow_dask_provider.exceptions.ClusterSpecError` naming the field, the value and what is
allowed, or a :class:`~airflow_dask_provider.exceptions.QuotaExceededError`.

The workers of the form are split into Dataproc's primary and secondary (preemptible) workers by
:func:`split_workers`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_dask_provider.defaults import MIN_PRIMARY_WORKERS
from airflow_dask_provider.exceptions import ClusterSpecError

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

log = logging.getLogger(__name__)

_KINDS = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false"}


def split_workers(total: int, preemptible_share: float) -> tuple[int, int]:
    """Return ``(primary, secondary)`` workers for ``total`` workers, ``preemptible_share`` of them preemptible.

    The share is rounded half up to whole workers; at least :data:`MIN_PRIMARY_WORKERS` stay primary
    (Dataproc's rule: primary workers are never preemptible), so ``split_workers(4, 0.5) == (2, 2)``,
    ``split_workers(5, 0.5) == (2, 3)`` and ``split_workers(2, 1.0) == (2, 0)``.
    """
    secondary = int(total * preemptible_share + 0.5)
    secondary = max(0, min(secondary, total - MIN_PRIMARY_WORKERS))
    return total - secondary, secondary


def allowed_values(schema: Mapping[str, Any]) -> str:
    """Describe, for an error message, what a JSON Schema of one value allows."""
    if "enum" in schema:
        return "must be one of " + ", ".join(repr(value) for value in schema["enum"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    kinds = " or ".join(_KINDS.get(kind, kind) for kind in types if kind != "null") or "a value"
    if "null" in types:
        kinds += " (or nothing)"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        text = f"must be {kinds} from {low} to {high}"
    elif low is not None:
        text = f"must be {kinds} of at least {low}"
    elif high is not None:
        text = f"must be {kinds} of at most {high}"
    else:
        text = f"must be {kinds}"
    if "pattern" in schema:
        text += f" matching {schema['pattern']}"
    if "minLength" in schema:
        text += f" of at least {schema['minLength']} characters"
    if "maxLength" in schema:
        text += f" of at most {schema['maxLength']} characters"
    return text


def param_schemas(params: Any) -> dict[str, dict[str, Any]]:
    """Return the JSON Schema of every Param of a DAG's ``params`` (a ``ParamsDict``)."""
    return {key: dict(params.get_param(key).schema) for key in params}


def validate_params(
    values: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]], *, conf: Mapping[str, Any] | None = None
) -> None:
    """Check request values against their JSON Schemas, as Airflow's trigger form does.

    :param values: the run's params (defaults merged with the run's conf).
    :param schemas: the JSON Schema of each param (:func:`param_schemas`).
    :param conf: the run's conf as sent; each key must be a param and its value must validate too.
    :raises ClusterSpecError: naming the first field that fails, its value and what is allowed.
    """
    import jsonschema

    for source in (conf or {}, values):
        for field, value in source.items():
            if field not in schemas:
                allowed = ", ".join(sorted(schemas))
                raise ClusterSpecError(field, value, f"is not a field of this request; the fields are {allowed}")
            schema = schemas[field]
            validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
            if not validator.is_valid(value):
                raise ClusterSpecError(field, value, allowed_values(schema))


def plan_request(context: Any, *, cluster_name: str, hook: DaskDataprocHook | None = None) -> dict[str, Any]:
    """Check the run's request and return what the cluster gets; raise before any cluster exists.

    The request's params are ``num_workers``, ``preemptible_share``, ``project_id`` and ``region`` plus
    whatever else the DAG declares. Returns ``user`` (who asked), ``owner`` (its label value),
    ``num_workers`` and ``num_secondary_workers`` (the split), and ``cluster_name``.

    :param context: the task's context.
    :param cluster_name: the cluster the run creates; if it is alive already, it is reused, not added.
    :param hook: the hook to list clusters with; the default Google Cloud connection when omitted.
    :raises ClusterSpecError: a value outside the DAG's schema, or an unknown field.
    :raises QuotaExceededError: the request would take the user over a quota.
    """
    from airflow_dask_provider.quotas import check_quota, owner_label, requesting_user

    params = context["params"]
    validate_params(params, param_schemas(context["dag"].params), conf=context["dag_run"].conf)
    primary, secondary = split_workers(int(params["num_workers"]), float(params["preemptible_share"]))
    user = requesting_user(context)
    if hook is None:
        from airflow_dask_provider.hooks import DaskDataprocHook

        hook = DaskDataprocHook()
    check_quota(
        hook,
        project_id=params["project_id"],
        region=params["region"],
        user=user,
        secondary_workers=secondary,
        cluster_name=cluster_name,
    )
    plan = {
        "user": user,
        "owner": owner_label(user),
        "cluster_name": cluster_name,
        "num_workers": primary,
        "num_secondary_workers": secondary,
    }
    log.info(
        "Request of %s accepted: cluster %s with %d primary and %d preemptible workers",
        user,
        cluster_name,
        primary,
        secondary,
    )
    return plan
