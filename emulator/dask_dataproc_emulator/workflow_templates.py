"""Check a workflow template as Dataproc does, substitute its parameters, and name what it creates.

A template holds a placement (a ``managed_cluster`` created for each run, or a ``cluster_selector``
matching the labels of an existing cluster) and jobs, each with a ``step_id`` and the
``prerequisite_step_ids`` it waits for. Parameters replace fields named by paths such as
``jobs['step'].pysparkJob.args[0]`` or ``placement.managedCluster.clusterName`` (the API's JSON
names), as Dataproc's workflow parameters do.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from google.cloud import dataproc_v1

from dask_dataproc_emulator.errors import InvalidArgumentError, required

#: Template ids and step ids: 3 to 50 letters, digits, underscores and hyphens, not starting or
#: ending with an underscore or hyphen.
TEMPLATE_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{1,48}[a-zA-Z0-9]")
STEP_ID = TEMPLATE_ID
#: A managed cluster's name prefix: 2 to 35 lowercase letters, digits and hyphens, a letter first,
#: not ending with a hyphen (Dataproc appends a suffix to it).
CLUSTER_PREFIX = re.compile(r"[a-z][-a-z0-9]{0,33}[a-z0-9]")
#: A parameter's name: capital letters, digits and underscores, not starting with a digit, at most 40.
PARAMETER_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,39}")
#: The longest value of a parameter in an instantiate request.
MAX_PARAMETER_VALUE = 1000
#: Length of the random suffix of a managed cluster's name and of a step's job id.
SUFFIX_LENGTH = 13
#: The job types of a template's jobs (``OrderedJob``'s ``job_type`` oneof).
JOB_TYPES = (
    "hadoop_job",
    "spark_job",
    "pyspark_job",
    "hive_job",
    "pig_job",
    "spark_r_job",
    "spark_sql_job",
    "presto_job",
    "trino_job",
    "flink_job",
)
_SEGMENT = re.compile(r"\.?(?P<name>[A-Za-z_]\w*)|\[(?P<index>\d+)\]|\['(?P<key>[^']*)'\]")


def suffix() -> str:
    """Return a random suffix of lowercase letters and digits, as Dataproc appends to generated names."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(SUFFIX_LENGTH))


def template_path(project: str, region: str, template_id: str) -> str:
    """Return ``projects/{p}/regions/{r}/workflowTemplates/{id}``."""
    return f"projects/{project}/regions/{region}/workflowTemplates/{template_id}"


def check_template_id(template_id: str, field: str) -> str:
    """Return ``template_id`` if Dataproc accepts it, else raise INVALID_ARGUMENT."""
    required(template_id, field)
    if not TEMPLATE_ID.fullmatch(template_id):
        raise InvalidArgumentError(
            f"Invalid {field} {template_id!r}: 3 to 50 letters, digits, underscores and hyphens, "
            "not starting or ending with an underscore or hyphen"
        )
    return template_id


def check_template(template: dataproc_v1.WorkflowTemplate, *, field: str = "template") -> None:
    """Raise INVALID_ARGUMENT, naming the field, for a template Dataproc would refuse."""
    _check_placement(template.placement, field, present="placement" in template)
    if not template.jobs:
        raise InvalidArgumentError(f"Missing required field: {field}.jobs")
    steps: dict[str, int] = {}
    for index, job in enumerate(template.jobs):
        where = f"{field}.jobs[{index}]"
        required(job.step_id, f"{where}.step_id")
        if not STEP_ID.fullmatch(job.step_id):
            raise InvalidArgumentError(
                f"Invalid {where}.step_id {job.step_id!r}: 3 to 50 letters, digits, underscores and hyphens, "
                "not starting or ending with an underscore or hyphen"
            )
        if job.step_id in steps:
            raise InvalidArgumentError(
                f"Invalid {where}.step_id {job.step_id!r}: {field}.jobs[{steps[job.step_id]}] has the same "
                "step_id; step ids must be unique within a template"
            )
        steps[job.step_id] = index
        if dataproc_v1.OrderedJob.pb(job).WhichOneof("job_type") is None:
            raise InvalidArgumentError(f"Missing required field: {where} needs one of {', '.join(JOB_TYPES)}")
    for index, job in enumerate(template.jobs):
        for prerequisite in job.prerequisite_step_ids:
            if prerequisite not in steps:
                raise InvalidArgumentError(
                    f"Invalid {field}.jobs[{index}].prerequisite_step_ids: {prerequisite!r} is not the step_id "
                    f"of a job of the template (step ids: {', '.join(steps)})"
                )
    cycle = _cycle({job.step_id: list(job.prerequisite_step_ids) for job in template.jobs})
    if cycle:
        raise InvalidArgumentError(
            f"Invalid {field}.jobs: prerequisite_step_ids form a cycle {' -> '.join(cycle)}; "
            "the steps of a template must form a directed acyclic graph"
        )
    _check_parameters(template, field, steps)


def _check_placement(placement: dataproc_v1.WorkflowTemplatePlacement, field: str, *, present: bool) -> None:
    kind = dataproc_v1.WorkflowTemplatePlacement.pb(placement).WhichOneof("placement") if present else None
    if kind is None:
        raise InvalidArgumentError(
            f"Missing required field: {field}.placement (one of managed_cluster or cluster_selector)"
        )
    if kind == "managed_cluster":
        name = placement.managed_cluster.cluster_name
        required(name, f"{field}.placement.managed_cluster.cluster_name")
        if not CLUSTER_PREFIX.fullmatch(name):
            raise InvalidArgumentError(
                f"Invalid {field}.placement.managed_cluster.cluster_name {name!r}: 2 to 35 lowercase letters, "
                "digits and hyphens, starting with a letter and not ending with a hyphen "
                "(a suffix is appended to it)"
            )
    elif not placement.cluster_selector.cluster_labels:
        raise InvalidArgumentError(f"Missing required field: {field}.placement.cluster_selector.cluster_labels")


def _cycle(graph: Mapping[str, list[str]]) -> list[str]:
    """Return a cycle of the graph (step -> its prerequisites) as a path, or [] if there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(step: str) -> list[str]:
        if step in path:
            return [*path[path.index(step) :], step]
        if step in done:
            return []
        path.append(step)
        for prerequisite in graph.get(step, []):
            found = visit(prerequisite)
            if found:
                return found
        path.pop()
        done.add(step)
        return []

    for step in graph:
        found = visit(step)
        if found:
            return found
    return []


def _check_parameters(template: dataproc_v1.WorkflowTemplate, field: str, steps: Mapping[str, int]) -> None:
    names: set[str] = set()
    for index, parameter in enumerate(template.parameters):
        where = f"{field}.parameters[{index}]"
        required(parameter.name, f"{where}.name")
        if not PARAMETER_NAME.fullmatch(parameter.name):
            raise InvalidArgumentError(
                f"Invalid {where}.name {parameter.name!r}: capital letters, digits and underscores, "
                "not starting with a digit, at most 40 characters"
            )
        if parameter.name in names:
            raise InvalidArgumentError(f"Invalid {where}.name {parameter.name!r}: parameter names must be unique")
        names.add(parameter.name)
        required(list(parameter.fields), f"{where}.fields")
        for path in parameter.fields:
            segments = _segments(path, f"{where}.fields")
            if segments[:1] == ["jobs"] and (len(segments) < 2 or segments[1] not in steps):
                raise InvalidArgumentError(
                    f"Invalid {where}.fields {path!r}: a job field is jobs['STEP_ID']..., with STEP_ID one of "
                    f"{', '.join(steps)}"
                )


def _segments(path: str, field: str) -> list[str | int]:
    """Split ``a.b['k'].c[0]`` into ``["a", "b", "k", "c", 0]``."""
    segments: list[str | int] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None or (position == 0 and path.startswith(".")):
            raise InvalidArgumentError(
                f"Invalid {field} {path!r}: expected a field path such as jobs['step'].pysparkJob.args[0]"
            )
        if match["name"] is not None:
            segments.append(match["name"])
        elif match["index"] is not None:
            segments.append(int(match["index"]))
        else:
            segments.append(match["key"])
        position = match.end()
    if not segments:
        raise InvalidArgumentError(f"Missing required field: {field}")
    return segments


def apply_parameters(
    template: dataproc_v1.WorkflowTemplate, values: Mapping[str, str], *, field: str = "parameters"
) -> dataproc_v1.WorkflowTemplate:
    """Return the template with each parameter's ``values[name]`` written into its fields.

    A parameter without a value keeps the template's own values. An unknown name, a value longer than
    1000 characters, or one its ``validation`` refuses is INVALID_ARGUMENT naming the parameter.
    """
    declared = {parameter.name: parameter for parameter in template.parameters}
    for name, value in values.items():
        if name not in declared:
            allowed = ", ".join(declared) or "none"
            raise InvalidArgumentError(
                f"Invalid {field}[{name!r}]: not a parameter of the template (declared: {allowed})"
            )
        if len(value) > MAX_PARAMETER_VALUE:
            raise InvalidArgumentError(f"Invalid {field}[{name!r}]: at most {MAX_PARAMETER_VALUE} characters")
        _validate(declared[name].validation, name, value, field)
    if not values:
        return template
    data: dict[str, Any] = json.loads(dataproc_v1.WorkflowTemplate.to_json(template))
    for name, value in values.items():
        for path in declared[name].fields:
            _set(data, _segments(path, f"{field}[{name!r}]"), value, f"{field}[{name!r}] field {path!r}")
    try:
        return dataproc_v1.WorkflowTemplate.from_json(json.dumps(data))
    except Exception as err:  # a value of the wrong type for its field
        raise InvalidArgumentError(f"Invalid {field}: a value does not fit its field ({err})") from None


def _validate(validation: dataproc_v1.ParameterValidation, name: str, value: str, field: str) -> None:
    if "regex" in validation:
        patterns = list(validation.regex.regexes)
        if patterns and not any(re.fullmatch(pattern, value) for pattern in patterns):
            raise InvalidArgumentError(f"Invalid {field}[{name!r}] {value!r}: must match one of {patterns}")
    if "values" in validation:
        allowed = list(validation.values.values)
        if allowed and value not in allowed:
            raise InvalidArgumentError(f"Invalid {field}[{name!r}] {value!r}: must be one of {allowed}")


def _set(data: dict[str, Any], segments: list[str | int], value: str, where: str) -> None:
    container: Any = data
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if isinstance(container, list) and isinstance(segment, str):  # jobs['step']
            matches = [item for item in container if isinstance(item, dict) and item.get("stepId") == segment]
            if not matches:
                raise InvalidArgumentError(f"Invalid {where}: no job with step_id {segment!r}")
            if last:
                raise InvalidArgumentError(f"Invalid {where}: names a whole job, not one of its fields")
            container = matches[0]
        elif isinstance(segment, int):
            if not isinstance(container, list) or segment >= len(container):
                raise InvalidArgumentError(f"Invalid {where}: index [{segment}] does not exist in the template")
            if last:
                container[segment] = value
            else:
                container = container[segment]
        elif isinstance(container, dict):
            if last:
                container[segment] = value
            else:
                nxt = segments[position + 1]
                default: Any = [] if isinstance(nxt, int) else {}
                container = container.setdefault(segment, default)
        else:
            raise InvalidArgumentError(f"Invalid {where}: {segment!r} is not a field there")
