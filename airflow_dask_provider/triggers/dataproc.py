"""Triggers that wait for a Dask cluster's state and for a Dask job on Dataproc.

They follow the conventions of :mod:`airflow_dask_provider.triggers.base`, and decide what each poll
found with the checks the sensors use (:mod:`airflow_dask_provider.checks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.checks import FAILED, cluster_verdict, job_verdict, with_detail
from airflow_dask_provider.monitoring import NO_WORKERS
from airflow_dask_provider.states import DELETED
from airflow_dask_provider.triggers.base import DaskDataprocBaseTrigger, event

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.resources import ClusterInfo, JobInfo
    from airflow_dask_provider.monitoring import JobLogFollower


class DaskDataprocClusterTrigger(DaskDataprocBaseTrigger):
    """Wait until a cluster is in one of ``target_states``; ``DELETED`` means it no longer exists.

    The event's status is ``success`` once the cluster reaches a target state, ``failed`` once it
    reaches one of ``failure_states``, ``timeout`` at the deadline. ``resource`` is the cluster's
    :class:`~airflow_dask_provider.hooks.resources.ClusterInfo` as a dict (None when deleted).

    :param cluster_name: the cluster.
    :param target_states: states to wait for, such as ``["RUNNING"]`` or ``["DELETED"]``.
    :param failure_states: states that end the wait as a failure, such as ``["ERROR"]``.
    :param delete_on_kill: delete the cluster if the task is killed (the task was creating it).
    """

    def __init__(
        self,
        *,
        cluster_name: str,
        target_states: Sequence[str],
        failure_states: Sequence[str] = ("ERROR",),
        delete_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.target_states = list(target_states)
        self.failure_states = list(failure_states)
        self.delete_on_kill = delete_on_kill

    @property
    def teardown(self) -> bool:  # type: ignore[override]
        """A wait for the cluster to be deleted is a teardown."""
        return self.target_states == [DELETED]

    def _own_kwargs(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster_name,
            "target_states": self.target_states,
            "failure_states": self.failure_states,
            "delete_on_kill": self.delete_on_kill,
        }

    @property
    def _where(self) -> dict[str, str]:
        return {"project_id": self.project_id, "region": self.region, "cluster_name": self.cluster_name}

    async def wait(self) -> dict[str, Any]:
        pauses = self.pauses()
        while True:
            info: ClusterInfo | None = await self.call(self.hook.get_cluster_info, **self._where)
            verdict = cluster_verdict(
                info,
                cluster_name=self.cluster_name,
                target_states=self.target_states,
                failure_states=self.failure_states,
            )
            resource = info.as_dict() if info else None
            if verdict.done:
                return event(verdict.status, state=verdict.state, resource=resource, message=verdict.message)
            self.log.info("%s", verdict.message)
            if await anext(pauses, None) is None:
                return event(
                    "timeout",
                    state=verdict.state,
                    resource=resource,
                    message=f"Cluster {self.cluster_name} was still {verdict.state} at the deadline; "
                    f"waited for {' or '.join(self.target_states)}",
                )

    async def clean_up(self) -> None:
        if self.delete_on_kill:
            self.log.warning("The task was killed while creating cluster %s; deleting it", self.cluster_name)
            await self.call(self.hook.delete_dask_cluster, **self._where)


class DaskDataprocJobTrigger(DaskDataprocBaseTrigger):
    """Wait until a job ends, copying its driver output and the Dask progress into the task log.

    The event's status is ``success`` for DONE, ``failed`` for ERROR or CANCELLED, ``timeout`` at
    the deadline (the job is left running: the operator decides). It is ``failed`` with the state
    ``NO_WORKERS`` too when the job's cluster has had no Dask worker for ``no_worker_timeout``
    seconds; the job is left running then as well, for the operator to cancel. ``resource`` is the job's
    :class:`~airflow_dask_provider.hooks.resources.JobInfo` as a dict; ``output_offset`` says how
    much driver output the log has got.

    :param job_id: the job.
    :param driver_output_uri: where the driver's output is written; nothing is copied when empty.
    :param dashboard_url: the cluster's Dask dashboard, for progress lines; none when empty.
    :param output_offset: bytes of driver output already in the task log.
    :param progress_interval: seconds between progress lines; 0 turns them off.
    :param no_worker_timeout: seconds the cluster may have no Dask worker while the job runs; 0 turns
        the check off (see :class:`~airflow_dask_provider.monitoring.WorkerWatch`). The clock starts
        again when the trigger does (a triggerer restart).
    :param cancel_on_kill: cancel the job if the task is killed (the task submitted it).
    """

    def __init__(
        self,
        *,
        job_id: str,
        driver_output_uri: str = "",
        dashboard_url: str | None = None,
        output_offset: int = 0,
        progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS,
        no_worker_timeout: float = 0.0,
        cancel_on_kill: bool = True,
        poll_maximum: float = defaults.JOB_POLL_MAXIMUM_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(poll_maximum=poll_maximum, **kwargs)
        self.job_id = job_id
        self.driver_output_uri = driver_output_uri
        self.dashboard_url = dashboard_url
        self.output_offset = int(output_offset)
        self.progress_interval = float(progress_interval)
        self.no_worker_timeout = float(no_worker_timeout)
        self.cancel_on_kill = cancel_on_kill

    def _own_kwargs(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "driver_output_uri": self.driver_output_uri,
            "dashboard_url": self.dashboard_url,
            "output_offset": self.output_offset,
            "progress_interval": self.progress_interval,
            "no_worker_timeout": self.no_worker_timeout,
            "cancel_on_kill": self.cancel_on_kill,
        }

    @cached_property
    def follower(self) -> JobLogFollower:
        """Copies the driver output and progress into this trigger's log, which is the task's log."""
        from airflow_dask_provider.monitoring import JobLogFollower

        return JobLogFollower(
            self.hook,
            driver_output_uri=self.driver_output_uri,
            dashboard_url=self.dashboard_url,
            log=self.log,
            offset=self.output_offset,
            progress_interval=self.progress_interval,
            no_worker_timeout=self.no_worker_timeout,
        )

    def prepare(self) -> None:
        super().prepare()
        self.follower  # noqa: B018 (builds the cached follower)

    async def wait(self) -> dict[str, Any]:
        where = {"project_id": self.project_id, "region": self.region, "job_id": self.job_id}
        pauses = self.pauses()
        while True:
            info: JobInfo | None = await self.call(self.hook.get_job_info, **where)
            verdict = job_verdict(info, job_id=self.job_id)
            if info is None:
                return event(verdict.status, state=verdict.state, message=verdict.message)
            if not self.follower.driver_output_uri and info.driver_output_uri:
                self.follower.driver_output_uri = info.driver_output_uri
            if verdict.done:
                await self.call(self.follower.finish)
                return self._event(verdict.status, verdict.state, verdict.message, info)
            await self.call(self.follower.follow)
            reason = self.follower.lost_workers(cluster_name=info.cluster_name)
            if reason:
                return self._event(FAILED, NO_WORKERS, with_detail(reason, info.detail), info)
            if await anext(pauses, None) is None:
                message = f"Job {self.job_id} was still {info.state} at the deadline"
                return self._event("timeout", info.state, message, info)

    def _event(self, status: str, state: str, message: str, info: JobInfo) -> dict[str, Any]:
        return event(
            status,
            state=state,
            message=message,
            resource=dataclasses.asdict(info),
            output_offset=self.follower.offset,
        )

    async def clean_up(self) -> None:
        if self.cancel_on_kill:
            self.log.warning("The task was killed; cancelling Dask job %s", self.job_id)
            await self.call(
                self.hook.cancel_dask_job, project_id=self.project_id, region=self.region, job_id=self.job_id
            )
