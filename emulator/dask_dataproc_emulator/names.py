"""Resource names and the naming rules Dataproc enforces."""

from __future__ import annotations

import re
import secrets
import string

from dask_dataproc_emulator.errors import InvalidArgumentError, required

#: Dataproc's cluster name rule: a lowercase letter first, then lowercase letters, digits and hyphens,
#: not ending with a hyphen, at most 51 characters.
CLUSTER_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,49}[a-z0-9])?")
#: Job ids: letters, digits, underscores and hyphens, at most 100 characters.
JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,100}")
#: Autoscaling policy ids: 3 to 50 letters, digits, underscores and hyphens, not starting or ending
#: with an underscore or hyphen.
POLICY_ID = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9_-]{1,48})[a-zA-Z0-9]")
#: ``request_id``: at most 40 letters, digits, underscores and hyphens.
REQUEST_ID = re.compile(r"[a-zA-Z0-9_-]{1,40}")
#: A policy's parent: ``projects/{p}/regions/{r}`` or ``projects/{p}/locations/{l}``.
PARENT = re.compile(r"projects/(?P<project>[^/]+)/(?P<kind>regions|locations)/(?P<region>[^/]+)")
POLICY_NAME = re.compile(PARENT.pattern + r"/autoscalingPolicies/(?P<policy>[^/]+)")

Key = tuple[str, str, str]


def where(project_id: str, region: str) -> tuple[str, str]:
    """Check and return the project and region of a request."""
    required(project_id, "project_id")
    required(region, "region")
    return project_id, region


def check_cluster_name(name: str) -> str:
    """Return ``name`` if Dataproc accepts it as a cluster name, else raise INVALID_ARGUMENT."""
    required(name, "cluster_name")
    if not CLUSTER_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"Invalid cluster_name {name!r}: a cluster name must start with a lowercase letter, "
            "contain only lowercase letters, digits and hyphens, not end with a hyphen, "
            "and be at most 51 characters long"
        )
    return name


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if Dataproc accepts it, else raise INVALID_ARGUMENT."""
    if not JOB_ID.fullmatch(job_id):
        raise InvalidArgumentError(
            f"Invalid reference.job_id {job_id!r}: a job id may contain only letters, digits, "
            "underscores and hyphens, and be at most 100 characters long"
        )
    return job_id


def check_request_id(request_id: str) -> str:
    """Return ``request_id`` (possibly empty) if Dataproc accepts it, else raise INVALID_ARGUMENT."""
    if request_id and not REQUEST_ID.fullmatch(request_id):
        raise InvalidArgumentError(
            f"Invalid request_id {request_id!r}: at most 40 letters, digits, underscores and hyphens"
        )
    return request_id


def cluster_path(key: Key) -> str:
    """Return ``projects/{p}/regions/{r}/clusters/{name}``."""
    project, region, name = key
    return f"projects/{project}/regions/{region}/clusters/{name}"


def job_path(key: Key) -> str:
    """Return ``projects/{p}/regions/{r}/jobs/{id}``."""
    project, region, job_id = key
    return f"projects/{project}/regions/{region}/jobs/{job_id}"


def operation_path(project: str, region: str, operation_id: str) -> str:
    """Return ``projects/{p}/regions/{r}/operations/{id}``."""
    return f"projects/{project}/regions/{region}/operations/{operation_id}"


def split_policy_name(name: str) -> tuple[str, str, str]:
    """Return (parent, project, policy id) of a policy name or ``https://...`` policy URI."""
    start = name.find("projects/")
    match = POLICY_NAME.fullmatch(name[start:]) if start >= 0 else None
    if match is None:
        raise InvalidArgumentError(
            f"Invalid autoscaling policy name {name!r}: expected "
            "projects/{project}/regions/{region}/autoscalingPolicies/{policy_id}"
        )
    parent = f"projects/{match['project']}/{match['kind']}/{match['region']}"
    return parent, match["project"], match["policy"]


def check_parent(parent: str) -> str:
    """Return a policy parent if it is well formed, else raise INVALID_ARGUMENT."""
    required(parent, "parent")
    if not PARENT.fullmatch(parent):
        raise InvalidArgumentError(f"Invalid parent {parent!r}: expected projects/{{project}}/regions/{{region}}")
    return parent


def secondary_instance_name(cluster_name: str) -> str:
    """Return a secondary worker's instance name, ``{cluster}-sw-xxxx`` as Dataproc names them."""
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(4))
    return f"{cluster_name}-sw-{suffix}"
