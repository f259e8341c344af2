"""Scaling of a Dataproc cluster's workers, as pure logic and plain data; no module here touches the network.

Dask-aware scaling of the secondary workers (the standalone runtime's; carried out by
:class:`~airflow_dask_provider.operators.scaling.DaskDataprocAutoscaleOperator`):
:mod:`~airflow_dask_provider.scaling.rule` decides (pure, no I/O), :mod:`~.scaler` observes the Dask
scheduler and the cluster and carries decisions out through the hooks, :mod:`~.nodes` tells which
nodes a shrink removes, and :mod:`~.timeline` records what happened as CSV and PNG.

Dataproc's own autoscaling from YARN memory: :mod:`~airflow_dask_provider.scaling.autoscaling_policy`
describes an ``AutoscalingPolicy`` (created by
:class:`~airflow_dask_provider.operators.autoscaling_policy.DaskDataprocCreateAutoscalingPolicyOperator`).

"Policy" means Dataproc's ``AutoscalingPolicy`` only; the Dask-aware decisions come from the scaling
*rule*. Both name their durations alike (``cooldown_period``, ``graceful_decommission_timeout``) and
read them alike: seconds, a ``timedelta`` or text such as ``"2m"``.
"""

from __future__ import annotations
