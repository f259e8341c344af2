"""What the provider's triggers share; they wait for Dask clusters and jobs while the task holds no worker slot.

Every trigger:

* takes only JSON-safe arguments and returns all of them from :meth:`serialize`, so the triggerer
  rebuilds it exactly, on another machine or after a restart;
* carries an absolute ``deadline`` (seconds since the epoch), not a duration, so a restart does not
  give it more time;
* polls with growing pauses (google-api-core's exponential sleep generator, with jitter);
* makes its calls through the hook, whose every request has a deadline and whose retries of an
  endpoint that does not answer are logged and end after ``[dask_dataproc] api_unreachable_timeout``
  (a little longer for a teardown trigger): the event is then an ``error`` naming the endpoint;
* emits exactly one event, always of the shape ``{"status", "state", "message", "resource"}``
  (plus ``"output_offset"`` for jobs), where ``status`` is ``success``, ``failed``, ``timeout``
  or ``error``, and ``resource`` is the cluster's or job's plain-data view (or None);
* cleans up (deletes the cluster being created, cancels the job) only when the task is really
  gone: a user marked it failed or cleared it. A triggerer that restarts or hands the trigger to
  another triggerer cancels it too, and then nothing is touched. On Airflow 3.3 and later Airflow
  says which is which by calling :meth:`on_kill`; before, the trigger asks for the task's state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_dask_provider import defaults

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

T = TypeVar("T")

#: The statuses of a trigger's event.
STATUSES = ("success", "failed", "timeout", "error")


def event(status: str, *, state: str, message: str, resource: dict[str, Any] | None = None, **extra: Any) -> dict:
    """Return the payload of a trigger event; every trigger of the provider emits this shape."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    return {"status": status, "state": state, "message": message, "resource": resource, **extra}


class DaskDataprocBaseTrigger(BaseTrigger):
    """What the provider's triggers share: where they look, their deadline, polling and clean-up.

    :param project_id: Google Cloud project.
    :param region: Dataproc region.
    :param deadline: when to give up, in seconds since the epoch; the event's status is then ``timeout``.
    :param gcp_conn_id: Google Cloud connection.
    :param impersonation_chain: service account to impersonate, or a chain of them.
    :param poll_initial: first pause between polls, in seconds.
    :param poll_maximum: longest pause between polls, in seconds.
    """

    def __init__(
        self,
        *,
        project_id: str,
        region: str,
        deadline: float,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        poll_initial: float = defaults.POLL_INITIAL_SECONDS,
        poll_maximum: float = defaults.POLL_MAXIMUM_SECONDS,
    ) -> None:
        super().__init__()
        self.project_id = project_id
        self.region = region
        self.deadline = float(deadline)
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = (
            list(impersonation_chain) if isinstance(impersonation_chain, (list, tuple)) else impersonation_chain
        )
        self.poll_initial = float(poll_initial)
        self.poll_maximum = float(poll_maximum)

    def _base_kwargs(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "region": self.region,
            "deadline": self.deadline,
            "gcp_conn_id": self.gcp_conn_id,
            "impersonation_chain": self.impersonation_chain,
            "poll_initial": self.poll_initial,
            "poll_maximum": self.poll_maximum,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and every argument needed to rebuild the trigger."""
        return f"{type(self).__module__}.{type(self).__qualname__}", {**self._base_kwargs(), **self._own_kwargs()}

    def _own_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    @cached_property
    def hook(self) -> DaskDataprocHook:
        """The synchronous hook; its calls run in threads so the triggerer's event loop never blocks."""
        from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

        return DaskDataprocHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)

    #: Whether the trigger waits for a teardown (a deletion), whose calls retry an endpoint that does
    #: not answer a little longer (see :mod:`airflow_dask_provider.hooks.bounded`).
    teardown: bool = False

    async def call(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a blocking hook call in a thread."""
        if not self.teardown:
            return await asyncio.to_thread(function, **kwargs)
        from airflow_dask_provider.hooks.bounded import teardown

        with teardown():  # the thread runs in a copy of this context
            return await asyncio.to_thread(function, **kwargs)

    def pauses(self) -> AsyncIterator[float]:
        """Yield after each pause, growing from ``poll_initial`` to ``poll_maximum``, until the deadline."""
        from google.api_core.retry import exponential_sleep_generator

        async def generate() -> AsyncIterator[float]:
            for pause in exponential_sleep_generator(self.poll_initial, self.poll_maximum, defaults.POLL_MULTIPLIER):
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    return
                await asyncio.sleep(min(pause, remaining))
                yield pause

        return generate()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, and emit one event; clean up on cancellation only if the task is gone."""
        try:
            await asyncio.to_thread(self.prepare)
            payload = await self.wait()
        except asyncio.CancelledError:
            if not AIRFLOW_V_3_3_PLUS and await self.task_is_gone():
                await self.on_kill()
            raise
        except Exception as err:  # any failure becomes the one event, so the task fails with its reason
            self.log.exception("Waiting failed")
            payload = event("error", state="UNKNOWN", message=f"{type(err).__name__}: {err}")
        yield TriggerEvent(payload)

    def prepare(self) -> None:
        """Build what the polls use; in a thread, as the first import of the hook's clients takes seconds."""
        self.hook  # noqa: B018 (builds the cached hook)

    async def wait(self) -> dict[str, Any]:
        """Poll until done and return the event's payload."""
        raise NotImplementedError

    async def on_kill(self) -> None:
        """Undo what the task started; called only when a user killed the task (see the module doc)."""
        try:
            await self.clean_up()
        except Exception:
            self.log.exception("Clean-up after the task was killed failed")

    async def clean_up(self) -> None:
        """Stop what the task started: nothing by default."""

    async def task_is_gone(self) -> bool:
        """Whether the task this trigger waits for is no longer deferred (before Airflow 3.3).

        A trigger cancelled while its task is still deferred is being moved (triggerer restart,
        redistribution): the task will resume elsewhere, so nothing must be cleaned up.
        """
        from airflow.providers.common.compat.sdk import TaskInstanceState

        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        try:
            state = await self.call(_task_state, ti=ti)
        except Exception:
            self.log.exception("Cannot read the state of task %s; leaving everything as it is", ti.task_id)
            return False
        return state != TaskInstanceState.DEFERRED


def _task_state(*, ti: Any) -> str | None:
    """Return the current state of the task instance a trigger belongs to."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        response = RuntimeTaskInstance.get_task_states(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
        )
        return response[ti.run_id][ti.task_id]
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(TaskInstance.state).where(
                TaskInstance.dag_id == ti.dag_id,
                TaskInstance.task_id == ti.task_id,
                TaskInstance.run_id == ti.run_id,
                TaskInstance.map_index == ti.map_index,
            )
        )
