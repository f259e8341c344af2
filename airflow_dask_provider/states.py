"""Dataproc's cluster and job states, by name, and the sets of them the provider acts on.

Every module that asks what a state means asks here: the hooks' waits, the operators, the sensors
and their triggers, the quotas, the reaper and the autoscaler.
"""

from __future__ import annotations

# -- clusters ----------------------------------------------------------------------------------------

RUNNING = "RUNNING"
ERROR = "ERROR"
DELETING = "DELETING"
STOPPED = "STOPPED"
STOPPING = "STOPPING"
STARTING = "STARTING"
#: Not one of Dataproc's states: the cluster does not exist (or no longer does).
DELETED = "DELETED"

#: Every state a cluster can be found in, and DELETED: the states a cluster sensor can wait for.
CLUSTER_STATES = (
    "CREATING",
    RUNNING,
    ERROR,
    DELETING,
    "UPDATING",
    STOPPING,
    STOPPED,
    STARTING,
    "REPAIRING",
    DELETED,
)
#: States in which Dataproc is still changing the cluster.
CLUSTER_TRANSIENT_STATES = frozenset({"CREATING", "UPDATING", DELETING, STARTING, STOPPING, "REPAIRING"})
#: States in which Dataproc has stopped changing the cluster, and DELETED: what a settling wait waits for.
CLUSTER_SETTLED_STATES = tuple(state for state in CLUSTER_STATES if state not in CLUSTER_TRANSIENT_STATES)
#: States in which a cluster serves its Dask scheduler and dashboard.
CLUSTER_SERVING_STATES = (RUNNING, "UPDATING")
#: States after which a cluster serves no more jobs: the autoscaler stops.
CLUSTER_ENDED_STATES = frozenset({DELETING, ERROR, STOPPING, STOPPED})
#: States of a cluster that no longer counts against a user's quota.
CLUSTER_NOT_COUNTED_STATES = frozenset({DELETING, ERROR})
#: What a cluster that is being made ready ends in when it will never be: the create operator's failure states.
CLUSTER_START_FAILED_STATES = (ERROR, DELETED, STOPPED)

# -- jobs --------------------------------------------------------------------------------------------

DONE = "DONE"
CANCELLED = "CANCELLED"
#: Job states after which the job never runs again.
JOB_FINAL_STATES = frozenset({DONE, ERROR, CANCELLED})
#: Final job states other than success.
JOB_FAILED_STATES = frozenset({ERROR, CANCELLED})
