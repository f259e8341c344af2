"""The ``WorkflowTemplateService``: workflow templates kept in memory, and workflows run on the emulator.

Templates are named ``projects/{p}/regions/{r}/workflowTemplates/{id}``; CreateWorkflowTemplate gives
them version 1 and ``create_time``, each UpdateWorkflowTemplate (which must name the current
``version``) adds one to the version and sets ``update_time``. GetWorkflowTemplate reads the current
version, or a former one that was instantiated. InstantiateWorkflowTemplate and
InstantiateInlineWorkflowTemplate return an operation at once, with ``WorkflowMetadata``, and run the
workflow in the background (see :mod:`dask_dataproc_emulator.workflow_runner`); the operation ends with
``Empty`` or with the error of the step that failed. A ``request_id`` seen before returns the first
operation.
"""

from __future__ import annotations

import logging
from typing import Any

from google.cloud import dataproc_v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from dask_dataproc_emulator import rpc
from dask_dataproc_emulator.clusters import ClusterService
from dask_dataproc_emulator.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    required,
)
from dask_dataproc_emulator.jobs import JobService
from dask_dataproc_emulator.names import PARENT, check_request_id
from dask_dataproc_emulator.operations import Operations
from dask_dataproc_emulator.paging import page
from dask_dataproc_emulator.state import Store, TemplateRecord, clone, now
from dask_dataproc_emulator.workflow_runner import WorkflowRun
from dask_dataproc_emulator.workflow_templates import (
    apply_parameters,
    check_template,
    check_template_id,
    template_path,
)

log = logging.getLogger(__name__)

#: Seconds Emulator.stop waits for the workflows it stops (each cancels its jobs, deletes its cluster).
SHUTDOWN_TIMEOUT_SECONDS = 120.0


def _parent(parent: str) -> tuple[str, str]:
    """Return (project, region) of ``projects/{p}/regions/{r}`` (or ``locations``)."""
    required(parent, "parent")
    match = PARENT.fullmatch(parent)
    if match is None:
        raise InvalidArgumentError(f"Invalid parent {parent!r}: expected projects/{{project}}/regions/{{region}}")
    return match["project"], match["region"]


def _name(name: str) -> tuple[str, str, str]:
    """Return (project, region, template id) of ``projects/{p}/regions/{r}/workflowTemplates/{id}``."""
    required(name, "name")
    parent, _, rest = name.partition("/workflowTemplates/")
    if not rest or "/" in rest or not PARENT.fullmatch(parent):
        raise InvalidArgumentError(
            f"Invalid name {name!r}: expected projects/{{project}}/regions/{{region}}/workflowTemplates/{{template_id}}"
        )
    project, region = _parent(parent)
    return project, region, rest


def _version_mismatch(name: str, asked: int, current: int, action: str) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"Cannot {action} workflow template {name}: version {asked} was requested, the current version is {current}"
    )


class WorkflowTemplateService:
    """Serve ``google.cloud.dataproc.v1.WorkflowTemplateService``.

    :param store: the emulator's state; templates live in ``store.templates``.
    :param operations: where the workflows' operations are kept.
    :param clusters: creates and deletes managed clusters, and lists clusters for a selector.
    :param jobs: runs the steps.
    """

    def __init__(self, store: Store, operations: Operations, clusters: ClusterService, jobs: JobService) -> None:
        self.store = store
        self.operations = operations
        self.clusters = clusters
        self.jobs = jobs
        self._runs: list[WorkflowRun] = []

    def _record(self, project: str, region: str, template_id: str) -> TemplateRecord:
        record = self.store.templates.get((project, region, template_id))
        if record is None:
            raise NotFoundError("WorkflowTemplate", template_path(project, region, template_id))
        return record

    # -- CRUD ---------------------------------------------------------------------------------------

    def create_workflow_template(
        self, request: dataproc_v1.CreateWorkflowTemplateRequest
    ) -> dataproc_v1.WorkflowTemplate:
        """CreateWorkflowTemplate: version 1, ``create_time`` and ``update_time`` now."""
        project, region = _parent(request.parent)
        template = clone(request.template)
        template_id = check_template_id(template.id, "template.id")
        check_template(template)
        key = (project, region, template_id)
        with self.store.lock:
            if key in self.store.templates:
                raise AlreadyExistsError("create workflow template", "WorkflowTemplate", template_path(*key))
            template.name = template_path(*key)
            template.version = 1
            template.create_time = template.update_time = now()
            self.store.templates[key] = TemplateRecord(key=key, template=template)
            return clone(template)

    def get_workflow_template(self, request: dataproc_v1.GetWorkflowTemplateRequest) -> dataproc_v1.WorkflowTemplate:
        """GetWorkflowTemplate: the current version, or with ``version`` one that was instantiated."""
        with self.store.lock:
            record = self._record(*_name(request.name))
            if not request.version or request.version == record.version:
                return clone(record.template)
            former = record.instantiated.get(request.version)
            if former is None:
                raise NotFoundError(
                    "WorkflowTemplate",
                    f"{record.template.name} version {request.version} (only the current "
                    "version and versions that were instantiated can be read)",
                )
            return clone(former)

    def list_workflow_templates(
        self, request: dataproc_v1.ListWorkflowTemplatesRequest
    ) -> dataproc_v1.ListWorkflowTemplatesResponse:
        """ListWorkflowTemplates, paged by name."""
        project, region = _parent(request.parent)
        with self.store.lock:
            found = [clone(r.template) for key, r in self.store.templates.items() if key[:2] == (project, region)]
        chunk, token = page(
            found,
            key=lambda template: template.name,
            page_size=request.page_size,
            page_token=request.page_token,
            query=f"projects/{project}/regions/{region}",
        )
        return dataproc_v1.ListWorkflowTemplatesResponse(templates=chunk, next_page_token=token)

    def update_workflow_template(
        self, request: dataproc_v1.UpdateWorkflowTemplateRequest
    ) -> dataproc_v1.WorkflowTemplate:
        """UpdateWorkflowTemplate: replace the template; ``template.version`` must be the current version."""
        new = clone(request.template)
        required(new.name, "template.name")
        project, region, template_id = _name(new.name)
        check_template(new)
        with self.store.lock:
            record = self._record(project, region, template_id)
            if new.id and new.id != template_id:
                raise InvalidArgumentError(
                    f"Invalid template.id {new.id!r}: must match the id {template_id!r} of template.name"
                )
            required(new.version, "template.version")
            if new.version != record.version:
                raise _version_mismatch(new.name, new.version, record.version, "update")
            new.id = template_id
            new.version = record.version + 1
            new.create_time = record.template.create_time
            new.update_time = now()
            record.template = new
            return clone(new)

    def delete_workflow_template(self, request: dataproc_v1.DeleteWorkflowTemplateRequest) -> empty_pb2.Empty:
        """DeleteWorkflowTemplate; with ``version``, only if it is the current one. Running workflows go on."""
        with self.store.lock:
            record = self._record(*_name(request.name))
            if request.version and request.version != record.version:
                raise _version_mismatch(record.template.name, request.version, record.version, "delete")
            del self.store.templates[record.key]
        return empty_pb2.Empty()

    # -- instantiating ------------------------------------------------------------------------------

    def instantiate_workflow_template(
        self, request: dataproc_v1.InstantiateWorkflowTemplateRequest
    ) -> operations_pb2.Operation:
        """InstantiateWorkflowTemplate: run the stored template (``version``, if given, must be current)."""
        project, region, template_id = _name(request.name)
        check_request_id(request.request_id)
        with self.store.lock:
            existing = self._repeated(project, region, request.request_id)
            if existing is not None:
                return existing
            record = self._record(project, region, template_id)
            if request.version and request.version != record.version:
                raise _version_mismatch(record.template.name, request.version, record.version, "instantiate")
            template = apply_parameters(clone(record.template), dict(request.parameters))
            record.instantiated[record.version] = clone(record.template)
            return self._instantiate(project, region, template, request.request_id, dict(request.parameters))

    def instantiate_inline_workflow_template(
        self, request: dataproc_v1.InstantiateInlineWorkflowTemplateRequest
    ) -> operations_pb2.Operation:
        """InstantiateInlineWorkflowTemplate: run a template that is not stored."""
        project, region = _parent(request.parent)
        check_request_id(request.request_id)
        template = clone(request.template)
        if template.id:
            check_template_id(template.id, "template.id")
        check_template(template)
        with self.store.lock:
            existing = self._repeated(project, region, request.request_id)
            if existing is not None:
                return existing
            return self._instantiate(project, region, template, request.request_id, {})

    def _repeated(self, project: str, region: str, request_id: str) -> operations_pb2.Operation | None:
        name = self.store.workflow_requests.get((project, region, request_id)) if request_id else None
        return self.operations.get(name) if name else None

    def _instantiate(
        self,
        project: str,
        region: str,
        template: dataproc_v1.WorkflowTemplate,
        request_id: str,
        parameters: dict[str, str],
    ) -> operations_pb2.Operation:
        if self.store.closing:
            raise UnavailableError("The Dataproc emulator is shutting down")
        run = WorkflowRun(
            store=self.store,
            operations=self.operations,
            clusters=self.clusters,
            jobs=self.jobs,
            project=project,
            region=region,
            template=template,
        )
        run.metadata.parameters = parameters
        operation = self.operations.start(project, region, run.metadata, on_cancel=run.cancel)
        if request_id:
            self.store.workflow_requests[(project, region, request_id)] = operation.name
        self._runs = [r for r in self._runs if r.thread is not None and r.thread.is_alive()] + [run]
        run.start(operation.name)
        log.info("Workflow %s started from template %s", operation.name, template.name or "(inline)")
        return operation

    def shutdown(self) -> None:
        """Stop every workflow (its jobs cancelled, its managed cluster deleted) and wait for them."""
        with self.store.lock:
            self.store.closing = True
            runs = list(self._runs)
        for run in runs:
            run.cancel(UnavailableError("The Dataproc emulator is shutting down: the workflow was stopped"))
        for run in runs:
            run.join(SHUTDOWN_TIMEOUT_SECONDS)

    def handler(self) -> Any:
        """Return the gRPC handler of ``google.cloud.dataproc.v1.WorkflowTemplateService``."""
        d = dataproc_v1
        op = operations_pb2.Operation
        return rpc.service(
            "google.cloud.dataproc.v1.WorkflowTemplateService",
            {
                "CreateWorkflowTemplate": rpc.unary(
                    self.create_workflow_template, d.CreateWorkflowTemplateRequest, d.WorkflowTemplate
                ),
                "GetWorkflowTemplate": rpc.unary(
                    self.get_workflow_template, d.GetWorkflowTemplateRequest, d.WorkflowTemplate
                ),
                "ListWorkflowTemplates": rpc.unary(
                    self.list_workflow_templates, d.ListWorkflowTemplatesRequest, d.ListWorkflowTemplatesResponse
                ),
                "UpdateWorkflowTemplate": rpc.unary(
                    self.update_workflow_template, d.UpdateWorkflowTemplateRequest, d.WorkflowTemplate
                ),
                "DeleteWorkflowTemplate": rpc.unary(
                    self.delete_workflow_template, d.DeleteWorkflowTemplateRequest, empty_pb2.Empty
                ),
                "InstantiateWorkflowTemplate": rpc.unary(
                    self.instantiate_workflow_template, d.InstantiateWorkflowTemplateRequest, op
                ),
                "InstantiateInlineWorkflowTemplate": rpc.unary(
                    self.instantiate_inline_workflow_template, d.InstantiateInlineWorkflowTemplateRequest, op
                ),
            },
        )
