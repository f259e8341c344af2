"""The emulator's in-memory state: clusters, jobs, policies and workflow templates behind one lock.

Records hold the API's own messages (``dataproc_v1.Cluster``, ``Job``, ``AutoscalingPolicy``); every
change happens under :attr:`Store.lock`, and what leaves the store is a copy made under that lock, so
a response is never serialized while a lifecycle thread changes it. Nothing is persisted.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from google.cloud import dataproc_v1

from dask_dataproc_emulator.names import Key
from dask_dataproc_emulator.settings import EmulatorSettings

if TYPE_CHECKING:
    from dask_dataproc_emulator.dask_cluster import DaskCluster

M = TypeVar("M")

ClusterState = dataproc_v1.ClusterStatus.State
JobState = dataproc_v1.JobStatus.State

#: Job states after which a job never runs again.
JOB_FINAL_STATES = frozenset({JobState.DONE, JobState.ERROR, JobState.CANCELLED})


def now() -> datetime:
    """Return the current time (UTC), as the API's timestamps carry it."""
    return datetime.now(timezone.utc)


def clone(message: M) -> M:
    """Return a deep copy of a proto-plus message."""
    kind: Any = type(message)
    return kind.deserialize(kind.serialize(message))


class JobControl(Protocol):
    """What the services need of a job's runner."""

    def cancel(self) -> dataproc_v1.Job:
        """Cancel the job (CancelJob) and return it as it is then (CANCEL_PENDING)."""

    def terminate(self, reason: str) -> None:
        """Stop the job's driver; the job ends in ERROR with ``reason`` as its details."""

    def join(self, timeout: float | None = None) -> None:
        """Wait for the runner to record the job's final state."""


@dataclasses.dataclass(eq=False)
class ClusterRecord:
    """One cluster: its message, its Dask processes and the thread now changing it."""

    key: Key
    cluster: dataproc_v1.Cluster
    dask: DaskCluster
    #: The thread creating or resizing the cluster, if any; a deletion waits for it.
    busy: threading.Thread | None = None
    #: The operation of a deletion under way; a second DeleteCluster returns it.
    delete_operation: str | None = None

    @property
    def state(self) -> int:
        """Return the cluster's state."""
        return self.cluster.status.state

    def set_idle(self, idle: bool) -> None:
        """Record whether the cluster runs no job: ``lifecycle_config.idle_start_time`` is set or cleared.

        Dataproc's idle-delete counts idle time from that moment.
        """
        lifecycle = self.cluster.config.lifecycle_config
        if idle:
            lifecycle.idle_start_time = now()
        else:
            dataproc_v1.LifecycleConfig.pb(lifecycle).ClearField("idle_start_time")

    def set_state(self, state: int, detail: str = "") -> None:
        """Move to ``state``, keeping the previous status in ``status_history``."""
        if self.cluster.status.state:
            self.cluster.status_history.append(clone(self.cluster.status))
        self.cluster.status = dataproc_v1.ClusterStatus(state=state, detail=detail, state_start_time=now())


@dataclasses.dataclass(eq=False)
class JobRecord:
    """One job: its message, the cluster it runs on, and its runner."""

    key: Key
    job: dataproc_v1.Job
    cluster_key: Key
    runner: JobControl | None = None
    #: Name of the operation of a job submitted with SubmitJobAsOperation.
    operation: str | None = None

    @property
    def state(self) -> int:
        """Return the job's state."""
        return self.job.status.state

    @property
    def done(self) -> bool:
        """Whether the job has ended."""
        return self.job.status.state in JOB_FINAL_STATES

    def set_state(self, state: int, details: str = "") -> None:
        """Move to ``state``, keeping the previous status in ``status_history``."""
        if self.job.status.state:
            self.job.status_history.append(clone(self.job.status))
        self.job.status = dataproc_v1.JobStatus(state=state, details=details, state_start_time=now())
        self.job.done = state in JOB_FINAL_STATES


@dataclasses.dataclass(eq=False)
class TemplateRecord:
    """One workflow template: its current version and the versions a run was made of."""

    key: Key
    template: dataproc_v1.WorkflowTemplate
    #: version -> the template as it was then, for each version that was instantiated
    #: (GetWorkflowTemplate can read those, as on Dataproc).
    instantiated: dict[int, dataproc_v1.WorkflowTemplate] = dataclasses.field(default_factory=dict)

    @property
    def version(self) -> int:
        """Return the current version."""
        return self.template.version


class Store:
    """Every resource of the emulator, and the lock that guards them.

    :param settings: the emulator's settings, shared by the services.
    """

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        #: Signalled whenever an operation finishes (WaitOperation waits on it).
        self.changed = threading.Condition(self.lock)
        self.clusters: dict[Key, ClusterRecord] = {}
        self.jobs: dict[Key, JobRecord] = {}
        #: (project, region, policy id) -> policy.
        self.policies: dict[Key, dataproc_v1.AutoscalingPolicy] = {}
        #: (project, region, request_id) of a SubmitJob -> the job's key.
        self.job_requests: dict[Key, Key] = {}
        #: (project, region, template id) -> workflow template.
        self.templates: dict[Key, TemplateRecord] = {}
        #: (project, region, request_id) of an Instantiate(Inline)WorkflowTemplate -> the operation's name.
        self.workflow_requests: dict[Key, str] = {}
        #: Set when the emulator stops: new clusters and jobs are refused.
        self.closing = False

    def clusters_in(self, project: str, region: str) -> list[ClusterRecord]:
        """Return the clusters of one project and region, by name."""
        return [self.clusters[key] for key in sorted(self.clusters) if key[:2] == (project, region)]

    def jobs_of_cluster(self, cluster_key: Key) -> list[JobRecord]:
        """Return the jobs that ran or run on a cluster."""
        return [record for record in self.jobs.values() if record.cluster_key == cluster_key]
