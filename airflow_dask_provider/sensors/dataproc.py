"""Sensors that wait for a Dask cluster's state or for a Dask job, both deferrable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_dask_provider import defaults
from airflow_dask_provider.checks import FAILED, cluster_verdict, job_verdict
from airflow_dask_provider.cluster_spec import validate_cluster_name
from airflow_dask_provider.exceptions import ClusterError, ClusterSpecError, JobError
from airflow_dask_provider.hooks.resources import ClusterInfo, JobInfo
from airflow_dask_provider.links import DaskDashboardLink, DataprocClusterLink, DataprocJobLink
from airflow_dask_provider.sensors.base import DaskDataprocBaseSensor
from airflow_dask_provider.states import CLUSTER_STATES
from airflow_dask_provider.tasks import is_literal, job_result

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_dask_provider.monitoring import JobLogFollower


class DaskDataprocClusterSensor(DaskDataprocBaseSensor):
    """Wait until a Dask cluster is in one of ``target_states`` (``RUNNING`` by default).

    ``DELETED`` stands for "does not exist", so the sensor can also wait for a cluster to go. A
    cluster in ERROR fails the sensor at once unless ERROR is a target state. The Dask dashboard
    and console links are set as soon as the cluster is known.

    :param cluster_name: the cluster (templated); derived from the DAG, the run and the task group when
        omitted, as the create operator derives it.
    :param target_states: states to wait for.
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseSensor.template_fields, "cluster_name")
    operator_extra_links = (DataprocClusterLink(), DaskDashboardLink())
    ui_color = "#fdd9a0"

    def __init__(
        self, *, cluster_name: str | None = None, target_states: Sequence[str] = ("RUNNING",), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.target_states = list(target_states)
        if cluster_name is not None and is_literal(cluster_name):
            validate_cluster_name(cluster_name)
        self._check_states()

    def _check_states(self) -> None:
        unknown = [state for state in self.target_states if state not in CLUSTER_STATES]
        if unknown or not self.target_states:
            raise ClusterSpecError(
                "target_states", self.target_states, f"a non-empty list of {', '.join(CLUSTER_STATES)}"
            )

    @property
    def failure_states(self) -> list[str]:
        return [] if "ERROR" in self.target_states else ["ERROR"]

    def execute(self, context: Context) -> Any:
        self.use_cluster_name(context)
        where = {"project_id": self.resolved_project_id, "region": self.region}
        DataprocClusterLink.persist(context, DataprocClusterLink.url(**where, cluster_name=self.cluster_name))
        if not self.deferrable:
            return super().execute(context)
        info = self._check(context)
        if info is not False:
            return info
        from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger

        self._defer(
            context,
            DaskDataprocClusterTrigger,
            cluster_name=self.cluster_name,
            target_states=self.target_states,
            failure_states=self.failure_states,
        )

    def poke(self, context: Context) -> Any:
        from airflow.providers.common.compat.sdk import PokeReturnValue

        info = self._check(context)
        return PokeReturnValue(is_done=info is not False, xcom_value=info if info is not False else None)

    def _check(self, context: Context) -> dict[str, Any] | None | bool:
        """Return the cluster (None when deleted) if it is in a target state, False if not yet."""
        info = self.hook.get_cluster_info(
            project_id=self.resolved_project_id, region=self.region, cluster_name=self.cluster_name
        )
        DaskDashboardLink.persist(context, info.dashboard_url if info else None)
        verdict = cluster_verdict(
            info, cluster_name=self.cluster_name, target_states=self.target_states, failure_states=self.failure_states
        )
        if verdict.status == FAILED:
            raise ClusterError(self.cluster_name, verdict.state, verdict.detail)
        self.log.info("%s", verdict.message)
        if not verdict.done:
            return False
        return info.as_dict() if info else None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
        """Finish once the deferred wait ended."""
        self.use_cluster_name(context)
        info = ClusterInfo(**event["resource"]) if event["resource"] else None
        DaskDashboardLink.persist(context, info.dashboard_url if info else None)
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(event["message"])
        if event["status"] != "success":
            raise ClusterError(self.cluster_name, event["state"], event["message"])
        self.log.info("%s", event["message"])
        return info.as_dict() if info else None


class DaskDataprocJobSensor(DaskDataprocBaseSensor):
    """Wait for a Dask job to end, for example one started by another DAG or by hand.

    Succeeds when the job is DONE, fails when it ends in ERROR or CANCELLED. The job's driver output
    and the Dask progress are copied into the task log while it runs. The sensor does not own the
    job: it never cancels it.

    :param job_id: the job (templated).
    :param progress_interval: seconds between Dask progress lines in the log; 0 for none.
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseSensor.template_fields, "job_id")
    operator_extra_links = (DataprocJobLink(), DataprocClusterLink(), DaskDashboardLink())
    ui_color = "#a6d7f4"

    def __init__(
        self, *, job_id: str, progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS, **kwargs: Any
    ) -> None:
        kwargs.setdefault("poke_interval", defaults.JOB_POLL_MAXIMUM_SECONDS)
        super().__init__(**kwargs)
        self.job_id = job_id
        self.progress_interval = progress_interval
        self._follower: JobLogFollower | None = None

    def execute(self, context: Context) -> Any:
        where = {"project_id": self.resolved_project_id, "region": self.region}
        DataprocJobLink.persist(context, DataprocJobLink.url(**where, job_id=self.job_id))
        job = self.hook.get_job_info(**where, job_id=self.job_id)
        if job is None:
            raise JobError(self.job_id, "NOT_FOUND", f"no such job in {where['project_id']}/{self.region}")
        dashboard_url = self._persist_cluster_links(context, job)
        if not self.deferrable:
            from airflow_dask_provider.monitoring import JobLogFollower

            self._follower = JobLogFollower(
                self.hook,
                driver_output_uri=job.driver_output_uri,
                dashboard_url=dashboard_url,
                log=self.log,
                progress_interval=self.progress_interval,
            )
            return super().execute(context)
        if job.done:
            return self._finish(job)
        from airflow_dask_provider.triggers.dataproc import DaskDataprocJobTrigger

        self._defer(
            context,
            DaskDataprocJobTrigger,
            job_id=self.job_id,
            driver_output_uri=job.driver_output_uri,
            dashboard_url=dashboard_url,
            progress_interval=self.progress_interval,
            cancel_on_kill=False,
        )

    def _persist_cluster_links(self, context: Context, job: JobInfo) -> str | None:
        where = {"project_id": job.project_id, "region": job.region}
        DataprocClusterLink.persist(context, DataprocClusterLink.url(**where, cluster_name=job.cluster_name))
        cluster = self.hook.get_cluster_info(**where, cluster_name=job.cluster_name)
        DaskDashboardLink.persist(context, cluster.dashboard_url if cluster else None)
        return cluster.dashboard_url if cluster else None

    def poke(self, context: Context) -> Any:
        from airflow.providers.common.compat.sdk import PokeReturnValue

        job = self.hook.get_job_info(project_id=self.resolved_project_id, region=self.region, job_id=self.job_id)
        if job is None:
            raise JobError(self.job_id, "NOT_FOUND", "the job disappeared while it was awaited")
        verdict = job_verdict(job, job_id=self.job_id)
        if self._follower is not None:
            if verdict.done:
                self._follower.finish()
            else:
                self._follower.follow()
        if not verdict.done:
            self.log.info("%s", verdict.message)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(job))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish once the deferred wait ended."""
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(event["message"])
        if not event["resource"]:
            raise JobError(self.job_id, event["state"], event["message"])
        return self._finish(JobInfo(**event["resource"]))

    def _finish(self, job: JobInfo) -> dict[str, Any]:
        return job_result(self.hook, job, self.log)
