"""Companion operator that scales a Dask cluster's secondary workers to its load while a job runs."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.cluster_spec import validate_cluster_name
from airflow_dask_provider.exceptions import ClusterSpecError, JobError
from airflow_dask_provider.operators.base import DaskDataprocBaseOperator
from airflow_dask_provider.scaling import rule
from airflow_dask_provider.scaling.scaler import GRACEFUL_DECOMMISSION_TIMEOUT_SECONDS
from airflow_dask_provider.tasks import is_literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_dask_provider.scaling.scaler import DaskSecondaryScaler

#: Fields of :class:`~airflow_dask_provider.scaling.rule.ScalingConfig`, each a keyword of the operator.
CONFIG_FIELDS = (
    "min_secondary_workers",
    "max_secondary_workers",
    "wait_count",
    "cooldown_period",
    "scale_down_delay",
)
#: Old keyword names, still accepted with a DeprecationWarning, and their new names: one name per concept
#: across this operator, the scaling rule and Dataproc's autoscaling policy (``cooldown_period``), no
#: unit in a name that accepts duration text, and Airflow's ``poke_interval`` for the pause between checks.
RENAMED = {
    "cooldown_seconds": "cooldown_period",
    "scale_down_delay_seconds": "scale_down_delay",
    "check_interval": "poke_interval",
}
#: Defaults of the renamed keywords, to tell a new name given from one left at its default.
_RENAMED_DEFAULTS = {
    "cooldown_period": rule.COOLDOWN_PERIOD_SECONDS,
    "scale_down_delay": rule.SCALE_DOWN_DELAY_SECONDS,
    "poke_interval": rule.POKE_INTERVAL_SECONDS,
}
#: Seconds to wait for the watched job to be submitted before giving up.
JOB_START_TIMEOUT_SECONDS = defaults.SCALING_JOB_START_TIMEOUT_SECONDS
#: Failed checks in a row (scheduler or API unreachable) after which the task fails.
MAX_FAILED_CHECKS = defaults.SCALING_MAX_FAILED_CHECKS
#: Seconds the final shrink may take.
FINAL_SHRINK_TIMEOUT_SECONDS = defaults.SCALING_FINAL_SHRINK_TIMEOUT_SECONDS


def _take_renamed(kwargs: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Return ``given`` (new name to value) with each old name of :data:`RENAMED` taken out of ``kwargs``.

    An old name warns (``DeprecationWarning`` naming the new one) and gives its value to the new name;
    both names at once are refused, naming the old one.
    """
    values = dict(given)
    for old, new in RENAMED.items():
        if old not in kwargs:
            continue
        value = kwargs.pop(old)
        if given[new] != _RENAMED_DEFAULTS[new]:
            raise ClusterSpecError(old, value, f"is the old name of {new}, which is given too: give {new} alone")
        warnings.warn(
            f"{old} is deprecated: use {new}, which takes seconds or text such as '30s'",
            DeprecationWarning,
            stacklevel=3,
        )
        values[new] = value
    return values


class DaskDataprocAutoscaleOperator(DaskDataprocBaseOperator):
    """Scale a Dask cluster's secondary workers to the Dask scheduler's load while a job runs.

    Run it in parallel with the submit task, on the same cluster
    (``create >> [run_job, autoscale] >> delete``). Every ``poke_interval`` it reads the
    scheduler's ``adaptive_target()`` (queued and processing work against worker capacity) and the
    cluster's nodes, decides with :class:`~airflow_dask_provider.scaling.rule.ScalingRule`
    (bounds, hysteresis, cooldown), and resizes the secondary worker group through ``UpdateCluster``,
    retiring the Dask workers of leaving nodes first so that their data moves to the others. Each
    decision is logged with its reason. It stops when the job has ended (then shrinks to
    ``min_secondary_workers``) or the cluster is gone, and writes the scaling timeline as CSV and PNG.

    Why a companion task rather than an option of the submit operator: scaling is work of its own
    (resizes and retirements every few seconds), with its own log and its own failures, which should
    neither hide in nor fail the job's task; and it then scales whatever runs on the cluster. It is
    not deferrable because it acts, not waits: a trigger must not resize clusters.

    Returns (and pushes to XCom) ``job_id``, ``job_state``, ``ended_because``, ``grows``,
    ``shrinks``, ``max_secondary_seen``, ``worker_seconds``, ``timeline_csv`` and ``timeline_png``.

    :param cluster_name: the cluster (templated); derived from the DAG, the run and the task group when
        omitted, as the create operator derives it.
    :param job_id: the Dataproc job to scale for (templated).
    :param job_task_id: or: the id of the submit task whose job to scale for; its job id is derived
        as the submit operator derives it.
    :param max_secondary_workers: most secondary workers (templated).
    :param min_secondary_workers: fewest secondary workers (templated, default 0).
    :param wait_count: checks in a row the load must ask for fewer workers before any go (templated).
    :param cooldown_period: time between two resizes, 0 to 1 day (templated); 10 s by default.
    :param scale_down_delay: time the load must ask for fewer workers before any go, 0 to 1 day
        (templated); 30 s by default.
    :param poke_interval: time between two checks; 2 s by default.
    :param graceful_decommission_timeout: time Dataproc gives removed nodes, 0 to 1 day; 2 minutes by default.
    :param target_duration: time the scheduler aims to finish queued work in; Dask's default 5 s if None.
    :param job_start_timeout: time to wait for the job to be submitted; 10 minutes by default.
    :param scale_down_at_end: shrink to ``min_secondary_workers`` once the job has ended (default True).
    :param timeline_dir: folder of ``scaling_timeline.csv`` and ``.png`` (templated); a temporary folder by default.

    Every time accepts seconds, a ``timedelta`` or text such as ``"30s"`` or ``"2m"``, as the
    autoscaling-policy operator's and the cluster's do. The old names ``cooldown_seconds``,
    ``scale_down_delay_seconds`` and ``check_interval`` still work, with a ``DeprecationWarning``
    naming the new one.
    """

    template_fields: Sequence[str] = (
        *DaskDataprocBaseOperator.template_fields,
        "cluster_name",
        "job_id",
        *CONFIG_FIELDS,
        "timeline_dir",
    )
    ui_color = "#c9e7c0"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        max_secondary_workers: int | str,
        job_id: str | None = None,
        job_task_id: str | None = None,
        min_secondary_workers: int | str = 0,
        wait_count: int | str = rule.WAIT_COUNT,
        cooldown_period: float | str | timedelta = rule.COOLDOWN_PERIOD_SECONDS,
        scale_down_delay: float | str | timedelta = rule.SCALE_DOWN_DELAY_SECONDS,
        poke_interval: float | str | timedelta = rule.POKE_INTERVAL_SECONDS,
        graceful_decommission_timeout: float | str | timedelta = GRACEFUL_DECOMMISSION_TIMEOUT_SECONDS,
        target_duration: float | str | timedelta | None = None,
        job_start_timeout: float | str | timedelta = JOB_START_TIMEOUT_SECONDS,
        scale_down_at_end: bool = True,
        timeline_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        given = {
            "cooldown_period": cooldown_period,
            "scale_down_delay": scale_down_delay,
            "poke_interval": poke_interval,
        }
        given = _take_renamed(kwargs, given)
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.job_id = job_id
        self.job_task_id = job_task_id
        self.min_secondary_workers = min_secondary_workers
        self.max_secondary_workers = max_secondary_workers
        self.wait_count = wait_count
        self.cooldown_period = given["cooldown_period"]
        self.scale_down_delay = given["scale_down_delay"]
        seconds = rule.duration_seconds
        self.poke_interval = seconds("poke_interval", given["poke_interval"], 0, rule.MAX_SECONDS)
        self.graceful_decommission_timeout = seconds(
            "graceful_decommission_timeout", graceful_decommission_timeout, 0, rule.MAX_SECONDS
        )
        self.target_duration = None if target_duration is None else seconds("target_duration", target_duration)
        self.job_start_timeout = seconds("job_start_timeout", job_start_timeout)
        self.scale_down_at_end = scale_down_at_end
        self.timeline_dir = timeline_dir
        self._stopping = False
        if (job_id is None) == (job_task_id is None):
            raise ClusterSpecError("job_id", job_id, "give exactly one of job_id and job_task_id")
        if cluster_name is not None and is_literal(cluster_name):
            validate_cluster_name(cluster_name)
        if is_literal([getattr(self, name) for name in CONFIG_FIELDS]):
            self.build_config()

    def build_config(self) -> rule.ScalingConfig:
        """Return the validated scaling configuration."""
        return rule.ScalingConfig(**{name: getattr(self, name) for name in CONFIG_FIELDS})

    def watched_job_id(self, context: Context) -> str:
        """Return the id of the job to scale for."""
        if self.job_id:
            return str(self.job_id)
        from airflow_dask_provider.operators.job import DaskDataprocSubmitJobOperator

        ti = context["ti"]
        other = SimpleNamespace(dag_id=ti.dag_id, task_id=self.job_task_id, run_id=ti.run_id, map_index=ti.map_index)
        return DaskDataprocSubmitJobOperator.derived_job_id({"ti": other})  # type: ignore[arg-type]

    def _timeline_dir(self, context: Context) -> Path:
        if self.timeline_dir:
            return Path(self.timeline_dir)
        ti = context["ti"]
        run = hashlib.sha256(f"{ti.run_id}/{ti.map_index}".encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / "airflow-dask-scaling" / ti.dag_id / run / ti.task_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_dask_provider.scaling.scaler import DaskSecondaryScaler

        self.use_cluster_name(context)
        config = self.build_config()
        job_id = self.watched_job_id(context)
        project_id = self.resolved_project_id
        scaling = self.hook
        scaler = DaskSecondaryScaler(
            scaling_hook=scaling,
            project_id=project_id,
            region=self.region,
            cluster_name=self.cluster_name,
            config=config,
            graceful_decommission_timeout=self.graceful_decommission_timeout,
            target_duration=self.target_duration,
            log=self.log,
        )
        self.log.info(
            "Scaling secondary workers of %s between %s and %s while job %s runs",
            self.cluster_name,
            config.min_secondary_workers,
            config.max_secondary_workers,
            job_id,
        )
        try:
            ended_because, job_state = self._loop(scaler, project_id, job_id)
        finally:
            paths = self._write_timeline(scaler, context)
            scaling.dask_scheduler.close()
        decisions = scaler.decisions
        return {
            "cluster_name": self.cluster_name,
            "job_id": job_id,
            "job_state": job_state,
            "ended_because": ended_because,
            "grows": sum(d.action == rule.GROW for d in decisions),
            "shrinks": sum(d.action == rule.SHRINK for d in decisions),
            "max_secondary_seen": scaler.timeline.max_secondary(),
            "worker_seconds": round(scaler.timeline.worker_seconds(), 1),
            **paths,
        }

    def _loop(self, scaler: DaskSecondaryScaler, project_id: str, job_id: str) -> tuple[str, str | None]:
        """Check and scale until the job ends or the cluster goes; return why it stopped and the job's state."""
        from airflow_dask_provider.scaling.scaler import ClusterGone

        job_deadline = time.monotonic() + self.job_start_timeout
        failures = 0
        while not self._stopping:
            try:
                scaler.step()
                job = self.hook.get_job_info(project_id=project_id, region=self.region, job_id=job_id)
                failures = 0
            except ClusterGone:
                self.log.info("Cluster %s is gone or going; scaling ends", self.cluster_name)
                return "cluster gone", None
            except Exception as err:  # a scheduler or API hiccup must not end scaling at once
                failures += 1
                if failures >= MAX_FAILED_CHECKS:
                    raise
                self.log.warning("Scaling check failed (%s of %s): %r", failures, MAX_FAILED_CHECKS, err)
                time.sleep(self.poke_interval)
                continue
            if job is None and time.monotonic() > job_deadline:
                raise JobError(job_id, "NOT_FOUND", f"it was not submitted within {self.job_start_timeout:.0f} s")
            if job is not None and job.done:
                self.log.info("Job %s ended in state %s", job_id, job.state)
                if self.scale_down_at_end:
                    self._final_shrink(scaler, f"job {job_id} ended in state {job.state}")
                return "job ended", job.state
            time.sleep(self.poke_interval)
        return "task stopped", None

    def _final_shrink(self, scaler: DaskSecondaryScaler, reason: str) -> None:
        from airflow_dask_provider.scaling.scaler import ClusterGone

        try:
            scaler.scale_to_minimum(reason, timeout=FINAL_SHRINK_TIMEOUT_SECONDS, interval=self.poke_interval)
        except ClusterGone:
            self.log.info("Cluster %s is gone; no final shrink needed", self.cluster_name)

    def _write_timeline(self, scaler: DaskSecondaryScaler, context: Context) -> dict[str, str | None]:
        folder = self._timeline_dir(context)
        csv_path = scaler.timeline.write_csv(folder / "scaling_timeline.csv")
        png_path: Path | None = None
        try:
            png_path = scaler.timeline.write_png(
                folder / "scaling_timeline.png", title=f"Dask-aware scaling of {self.cluster_name}"
            )
        except ImportError as error:  # MissingExtraError names the extra
            self.log.warning("No timeline picture: %s", error)
        self.log.info("Scaling timeline: %s%s", csv_path, f" and {png_path}" if png_path else "")
        return {"timeline_csv": os.fspath(csv_path), "timeline_png": os.fspath(png_path) if png_path else None}

    def on_kill(self) -> None:
        """Stop the loop; the cluster keeps its current size."""
        self._stopping = True
