"""Operator that runs a Dask job on a Dataproc cluster."""

from __future__ import annotations

import hashlib
import posixpath
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import config, defaults
from airflow_dask_provider.exceptions import (
    ClusterError,
    ClusterSpecError,
    DaskDataprocError,
    JobError,
    NoWorkersError,
    WaitTimeoutError,
)
from airflow_dask_provider.hooks.resources import JobInfo
from airflow_dask_provider.labels import provenance_labels
from airflow_dask_provider.links import DaskDashboardLink, DataprocClusterLink, DataprocJobLink
from airflow_dask_provider.operators.base import DaskDataprocBaseOperator, renamed_parameter
from airflow_dask_provider.tasks import deadline, defer_timeout, is_literal, job_result
from airflow_dask_provider.validation import (
    parse_duration,
    string_list,
    validate_cluster_name,
    validate_job_id,
    validate_labels,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


_INVALID_JOB_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


class DaskDataprocSubmitJobOperator(DaskDataprocBaseOperator):
    """Run a Python Dask script as the driver of a job on a Dask cluster, and wait for it.

    Dataproc has no Dask job type: the script is submitted as a pyspark job whose main file is a
    plain Python script. It runs on the master node, where the Dask scheduler runs, and connects to
    it with the cluster's TLS credential (the scheduler's ``tls://`` address and the credential are
    in Dask's configuration: ``/etc/dask/config.yaml`` on a Dataproc master, ``DASK_*`` variables on
    the emulator), so a plain ``distributed.Client()`` works. The job id is derived from the DAG run and task,
    so a retried task attaches to the job it already submitted instead of submitting a second one;
    a new job is submitted only when the earlier one failed or was cancelled.

    A local ``main`` (absolute, or relative to the DAG file's folder) is uploaded to the cluster's
    staging bucket under a content-hashed path first; ``py_files`` and ``files`` likewise.

    Returns (and pushes to XCom) the job's ``job_id``, ``state``, ``driver_output_uri`` and place.

    :param cluster_name: the cluster to run on (templated); derived from the DAG, the run and the task
        group when omitted, as the create operator derives it.
    :param main: the driver script: a gs:// URI or a local path (templated).
    :param args: arguments of the script, a list (templated); a single string is refused, not split.
    :param py_files: Python files or ``.zip``/``.egg`` archives put on the import path of the driver, the
        scheduler and every worker (those that join mid-job included) while the job runs, and taken off
        the scheduler and workers when it ends, a list (templated). A bundled job's own imports are added.
    :param files: files copied into the driver's working directory, a list (templated).
    :param properties: job properties (templated).
    :param labels: labels of the job (templated).
    :param job_id: the job's id; derived from the DAG run and task when omitted (templated).
    :param timeout: seconds to wait for the job; ``[dask_dataproc] default_job_timeout`` (6 hours)
        when omitted, ``float("inf")`` for no limit. The task's ``execution_timeout`` applies too.
        Either way, the job is cancelled when the time is up. The name is the create and delete
        operators' and the sensors': how long the task waits for what it started.
    :param progress_interval: seconds between the Dask progress lines in the task log; 0 for none.
    :param no_worker_timeout: seconds (or text such as ``"5m"``) the job's cluster may have no Dask
        worker while the job runs; then the job is cancelled and the task fails with
        :class:`~airflow_dask_provider.exceptions.NoWorkersError`. None: ``[dask_dataproc]
        no_worker_timeout`` (5 minutes unless set); 0 turns the check off. It needs the cluster's
        dashboard (Component Gateway) to count the workers.
    :param check_versions: run the script through the provider's driver, which first checks that the
        driver, the scheduler and the workers agree on Python, dask and distributed, and fails the job
        with a table of the differences otherwise (default True). Without it, a job with ``py_files``
        still runs through the driver, which puts them on the workers' path, but checks nothing.
    :param job_timeout: deprecated: the old name of ``timeout``, still honoured (over ``timeout``, as
        before, when both are given) with an :class:`~airflow.exceptions.AirflowProviderDeprecationWarning`.

    While the job runs, its driver output is copied into the task log as it is written, with a line
    of Dask progress (tasks done out of total, workers, memory) every ``progress_interval`` seconds,
    in both modes: from the worker slot, or from the triggerer when ``deferrable``.
    """

    template_fields: Sequence[str] = (
        *DaskDataprocBaseOperator.template_fields,
        "cluster_name",
        "main",
        "args",
        "py_files",
        "files",
        "properties",
        "labels",
        "job_id",
    )
    template_fields_renderers = {"args": "json", "properties": "json", "labels": "json"}
    operator_extra_links = (DataprocClusterLink(), DataprocJobLink(), DaskDashboardLink())
    ui_color = "#a6d7f4"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        main: str,
        args: Sequence[str] = (),
        py_files: Sequence[str] = (),
        files: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        job_id: str | None = None,
        timeout: float | None = None,
        progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS,
        no_worker_timeout: float | str | None = None,
        check_versions: bool = True,
        job_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.main = main
        self.args = _listed(args)
        self.py_files = _listed(py_files)
        self.files = _listed(files)
        self.properties = dict(properties or {})
        self.labels = dict(labels or {})
        self.job_id = job_id
        if job_timeout is not None:
            timeout = renamed_parameter(self.task_id, "job_timeout", "timeout", job_timeout)
        self.timeout = timeout
        self.progress_interval = progress_interval
        self.no_worker_timeout = no_worker_timeout
        self.check_versions = check_versions
        self._job: JobInfo | None = None
        self._validate(parse_time=True)
        if no_worker_timeout is not None:
            self._no_worker_seconds()

    def _validate(self, *, parse_time: bool = False) -> None:
        """Check the fields; at parse time those known then (no template), local paths included."""
        checks = {
            "cluster_name": lambda: self.cluster_name is None or validate_cluster_name(self.cluster_name),
            "labels": lambda: validate_labels(self.labels),
            "main": self._check_main,
            "args": lambda: string_list("args", self.args),
            "py_files": lambda: string_list("py_files", self.py_files),
            "files": lambda: string_list("files", self.files),
            "job_id": self._check_job_id,
        }
        for field, check in checks.items():
            if not parse_time or is_literal(getattr(self, field)):
                check()
        dag = self.dag if parse_time and self.has_dag() else None
        if parse_time and getattr(dag, "fileloc", None):
            folder = Path(dag.fileloc).parent
            for field in ("main", "py_files", "files"):
                for uri in [self.main] if field == "main" else getattr(self, field):
                    if is_literal(uri):
                        _local_path(field, uri, folder)

    def _check_main(self) -> None:
        if not isinstance(self.main, str) or not self.main.strip():
            raise ClusterSpecError("main", self.main, "must be a gs:// URI or a path of a Python script")
        if not self.main.endswith(".py"):
            raise ClusterSpecError("main", self.main, "must name a Python script ending in .py")

    def _check_runtime(self, runtime: str) -> None:
        """Refuse a bundled job on a yarn-runtime cluster: that runtime's Dask is too old for the jobs."""
        from airflow_dask_provider.bundled import is_job_script

        if runtime == "yarn" and is_job_script(self.main):
            raise ClusterSpecError(
                "main",
                self.main,
                f"the bundled jobs need dask 2024.8 or newer, and cluster {self.cluster_name!r} runs the yarn "
                "runtime, locked to dask 2022.1.1 for dask-yarn: run them on a cluster with dask_runtime='standalone'",
            )

    def _no_worker_seconds(self) -> float:
        """Return ``no_worker_timeout`` in seconds, from the configuration when not given; 0 is off."""
        if self.no_worker_timeout is None:
            seconds = config.get_duration("no_worker_timeout")
            return float(defaults.NO_WORKER_TIMEOUT_SECONDS if seconds is None else seconds)
        value = self.no_worker_timeout
        seconds = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        seconds = parse_duration("no_worker_timeout", value) if seconds is None else seconds
        if seconds < 0:
            raise ClusterSpecError("no_worker_timeout", value, "must be 0 (off) or more seconds")
        return float(seconds)

    def _check_job_id(self) -> None:
        if self.job_id is not None:
            validate_job_id(self.job_id)

    def execute(self, context: Context) -> dict[str, Any]:
        self.use_cluster_name(context)
        self._validate()
        project_id = self.resolved_project_id
        where = {"project_id": project_id, "region": self.region}
        cluster = self.hook.get_cluster_info(**where, cluster_name=self.cluster_name)
        if cluster is None:
            raise ClusterError(self.cluster_name, "NOT_FOUND", "create it before submitting a job")
        if cluster.state != "RUNNING":
            raise ClusterError(self.cluster_name, cluster.state, "jobs need a RUNNING cluster")
        self._check_runtime(cluster.dask_runtime)
        DataprocClusterLink.persist(context, DataprocClusterLink.url(**where, cluster_name=self.cluster_name))
        DaskDashboardLink.persist(context, cluster.dashboard_url)

        dag_folder = Path(context["dag"].fileloc).parent
        stage = lambda field, uri: self._staged(field, uri, cluster.config_bucket, dag_folder)  # noqa: E731
        until = deadline(context, self, self.effective_timeout)
        no_worker_timeout = self._no_worker_seconds()
        job = self._submit(
            context,
            where,
            **self._entry_point(stage),
            file_uris=[stage("files", uri) for uri in self.files],
            properties={**defaults.DRIVER_PROPERTIES, **self.properties},
            labels=validate_labels({**self.labels, **provenance_labels(context, owner=self.owner, expiry=until)}),
        )
        self._job = job
        DataprocJobLink.persist(context, DataprocJobLink.url(**where, job_id=job.job_id))
        self.log.info("Dask job %s on cluster %s is %s", job.job_id, self.cluster_name, job.state)
        if cluster.dashboard_url:
            self.log.info("Dask dashboard: %s", cluster.dashboard_url)
        if self.deferrable and not job.done:
            from airflow_dask_provider.triggers.dataproc import DaskDataprocJobTrigger

            trigger = DaskDataprocJobTrigger(
                **self.trigger_location(),
                job_id=job.job_id,
                driver_output_uri=job.driver_output_uri,
                dashboard_url=cluster.dashboard_url,
                progress_interval=self.progress_interval,
                no_worker_timeout=no_worker_timeout,
                cancel_on_kill=True,
                deadline=until,
            )
            self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout(until))
        return self._finish(self._wait(job, cluster.dashboard_url, until, no_worker_timeout))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish once the deferred wait for the job ended; cancel the job if time ran out."""
        if not event["resource"]:  # the trigger could not read the job (an endpoint that did not answer)
            raise DaskDataprocError(
                f"The wait for the Dask job ended without reading it: {event['message']}. "
                "A retry of this task attaches to the job if it still runs"
            )
        job = JobInfo(**event["resource"])
        if event["status"] == "timeout":
            self._cancel(job)
            budget = self.execution_timeout.total_seconds() if self.execution_timeout else 0
            raise WaitTimeoutError(f"Dask job {job.job_id}", self.effective_timeout or budget, job.state)
        if event["status"] == "error":
            raise JobError(job.job_id, job.state, event["message"])
        from airflow_dask_provider.monitoring import NO_WORKERS

        if event["state"] == NO_WORKERS:
            self._cancel(job)
            raise NoWorkersError(job.job_id, event["message"])
        return self._finish(job)

    @property
    def job_timeout(self) -> float | None:
        """The old name of :attr:`timeout`, read by DAGs and callbacks that knew it."""
        return self.timeout

    @property
    def effective_timeout(self) -> float | None:
        """Return the job's time limit in seconds: ``timeout``, else ``[dask_dataproc] default_job_timeout``
        (None: no limit but the task's ``execution_timeout``)."""
        if self.timeout is not None:
            return float(self.timeout)
        configured = config.get_duration("default_job_timeout")
        return float(configured) if configured is not None else None

    def _finish(self, job: JobInfo) -> dict[str, Any]:
        return job_result(self.hook, job, self.log)

    def _wait(self, job: JobInfo, dashboard_url: str | None, until: float, no_worker_timeout: float) -> JobInfo:
        """Wait in this worker slot, copying the driver output and Dask progress into the log.

        The job is cancelled if the wait times out, or if the cluster has had no Dask worker for
        ``no_worker_timeout`` seconds (then :class:`NoWorkersError` is raised).
        """
        from airflow.providers.common.compat.sdk import AirflowTaskTimeout

        from airflow_dask_provider.monitoring import JobLogFollower

        follower = JobLogFollower(
            self.hook,
            driver_output_uri=job.driver_output_uri,
            dashboard_url=dashboard_url,
            log=self.log,
            progress_interval=self.progress_interval,
            no_worker_timeout=no_worker_timeout,
        )

        def on_poll(info: JobInfo) -> None:
            if info.done:
                return
            follower.follow()
            reason = follower.lost_workers(cluster_name=self.cluster_name)
            if reason:
                raise NoWorkersError(info.job_id, reason)

        try:
            job = self.hook.wait_for_dask_job(
                project_id=job.project_id,
                region=job.region,
                job_id=job.job_id,
                timeout=max(until - time.time(), 0),
                on_poll=on_poll,
            )
        except (AirflowTaskTimeout, WaitTimeoutError):
            self.on_kill()
            raise
        except NoWorkersError:
            self._cancel(job)
            raise
        follower.finish()
        return job

    def _entry_point(self, stage: Any) -> dict[str, Any]:
        """Return the job's main file, arguments and Python files.

        The main file is the provider's driver (:mod:`airflow_dask_provider.driver`), which runs the
        user's script, shipped in ``python_file_uris``: with ``check_versions`` it first checks that the
        driver, scheduler and workers agree on Python, dask and distributed, and it puts the Python files
        (each named by ``--py-file``) on the scheduler's and every worker's import path while the script
        runs. Without ``check_versions`` and Python files, the script is the main file itself.
        """
        from airflow_dask_provider import driver  # the cluster side's module, read when a job is submitted
        from airflow_dask_provider.bundled import driver_path

        args = [str(arg) for arg in self.args]
        python_files = [stage("py_files", uri) for uri in self.python_files()]
        if not self.check_versions and not python_files:
            return {"main_python_file_uri": stage("main", self.main), "args": args, "python_file_uris": []}
        options = [option for uri in python_files for option in (driver.PY_FILE_OPTION, posixpath.basename(uri))]
        options += [] if self.check_versions else [driver.NO_VERSION_CHECK_OPTION]
        return {
            "main_python_file_uri": stage("main", driver_path()),
            "args": [*options, posixpath.basename(str(self.main)), *args],
            "python_file_uris": [stage("main", self.main), *python_files],
        }

    def python_files(self) -> list[str]:
        """Return the job's Python files: ``py_files``, after what a bundled ``main`` imports of the bundled jobs.

        A bundled job (:func:`~airflow_dask_provider.bundled.job_script`) carries what it imports
        (``dask_job.py``, and ``csv_to_parquet.py`` for ``generate.py``); a file of the same name that
        ``py_files`` lists is not added twice.
        """
        from airflow_dask_provider.bundled import is_job_script, job_imports

        listed = {posixpath.basename(str(uri)) for uri in self.py_files}
        carried = job_imports(self.main) if is_job_script(self.main) else []
        return [path for path in carried if posixpath.basename(path) not in listed] + list(self.py_files)

    def _submit(self, context: Context, where: dict[str, str], **job: Any) -> JobInfo:
        """Submit the job, or attach to the one an earlier try submitted if it has not failed."""
        base = self.job_id or self.derived_job_id(context)
        for attempt in range(1, defaults.MAX_JOB_ATTEMPTS + 1):
            job_id = base if attempt == 1 else f"{base[:95]}-{attempt}"
            info = self.hook.submit_dask_job(**where, cluster_name=self.cluster_name, job_id=job_id, **job)
            if info.submitted_now:
                return info
            if info.state in ("ERROR", "CANCELLED"):
                self.log.info("Job %s from an earlier try ended %s; submitting a new job", job_id, info.state)
                continue
            self.log.info("Attaching to job %s (state %s) submitted by an earlier try", job_id, info.state)
            return info
        raise JobError(base, "ERROR", f"{defaults.MAX_JOB_ATTEMPTS} earlier jobs of this task instance failed")

    @staticmethod
    def derived_job_id(context: Context) -> str:
        """The job id this operator uses when ``job_id`` is not given: stable across tries of one task instance.

        Other tasks (the autoscale operator's ``job_task_id``) use it to find the job a submit task started.
        """
        ti = context["ti"]
        digest = hashlib.sha256(f"{ti.dag_id}/{ti.run_id}/{ti.map_index}".encode()).hexdigest()[:12]
        return f"{_INVALID_JOB_ID_CHARS.sub('_', ti.task_id)[:80]}-{digest}"

    def _staged(self, field: str, uri: str, bucket: str, dag_folder: Path) -> str:
        path = _local_path(field, uri, dag_folder)
        return uri if path is None else self.hook.stage_file(local_path=path, bucket=bucket)

    def on_kill(self) -> None:
        """Cancel the job when the task is killed or times out."""
        if self._job is not None and not self._job.done:
            self._cancel(self._job)

    def _cancel(self, job: JobInfo) -> None:
        self.log.warning("Cancelling Dask job %s", job.job_id)
        self.hook.cancel_dask_job(project_id=job.project_id, region=job.region, job_id=job.job_id)


def _listed(value: Any) -> Any:
    """Return a list of the items of ``value``; a string (a template, or a mistake ``string_list`` names) as it is."""
    if value is None:
        return []
    return value if isinstance(value, (str, bytes)) else list(value)


def _local_path(field: str, uri: Any, dag_folder: Path) -> Path | None:
    """Return the local file that ``uri`` names (absolute, or relative to the DAG's folder), or None for a
    gs:// URI; a local file that does not exist is refused, naming the field."""
    if not isinstance(uri, str) or not uri.strip():
        raise ClusterSpecError(field, uri, "every entry must be a gs:// URI or a local file's path")
    if uri.startswith("gs://"):
        return None
    path = Path(uri.removeprefix("file://"))
    path = path if path.is_absolute() else dag_folder / path
    if not path.is_file():
        raise ClusterSpecError(
            field,
            uri,
            f"a local file must exist (absolute, or relative to the DAG's folder {dag_folder}); {path} does not",
        )
    return path
