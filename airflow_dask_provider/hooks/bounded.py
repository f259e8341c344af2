"""Bounded, logged API calls: how the hook talks to an endpoint that may not answer.

Every Dataproc and Cloud Storage request of :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`
goes through :meth:`BoundedCalls.call`, which gives it:

* a deadline per request (``API_CALL_TIMEOUT_SECONDS``), so no request blocks longer;
* google-api-core's retry of transient errors (:func:`is_transient`), with growing pauses, each
  failed attempt logged as a WARNING that names the call, the endpoint and the error;
* an overall budget, ``[dask_dataproc] api_unreachable_timeout`` (60 s by default), counted from the
  first failure of a run of failures of one endpoint, across calls (the last retry starts
  ``API_GIVE_UP_MARGIN_SECONDS`` before it ends): once an endpoint has not answered for that long, every call to it raises :class:`~airflow_dask_provider.exceptions.EndpointUnreachableError`
  after one more attempt, so a wait of many polls ends within the budget too. Any answer (even an
  error such as NotFound) ends the run.

Inside :func:`teardown` (deleting a cluster, cancelling a job) the budget is
``TEARDOWN_UNREACHABLE_FACTOR`` times longer.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import EndpointUnreachableError

T = TypeVar("T")

_TEARDOWN: contextvars.ContextVar[bool] = contextvars.ContextVar("dask_dataproc_teardown", default=False)


@contextlib.contextmanager
def teardown() -> Iterator[None]:
    """Give the calls made inside the block the longer teardown budget (threads started inside inherit it)."""
    token = _TEARDOWN.set(True)
    try:
        yield
    finally:
        _TEARDOWN.reset(token)


def is_transient(err: BaseException) -> bool:
    """Whether an error says the endpoint did not answer, or answered "try again": the one place that decides
    which gRPC codes and HTTP errors are retried."""
    import requests
    from google.api_core import exceptions, retry

    return retry.if_transient_error(err) or isinstance(
        err,
        (
            exceptions.ServiceUnavailable,
            exceptions.DeadlineExceeded,
            exceptions.BadGateway,
            exceptions.GatewayTimeout,
            requests.Timeout,
        ),
    )


def unreachable_timeout() -> float:
    """Return ``[dask_dataproc] api_unreachable_timeout`` in seconds."""
    from airflow_dask_provider import config

    seconds = config.get_duration("api_unreachable_timeout")
    return float(defaults.API_UNREACHABLE_TIMEOUT_SECONDS if seconds is None else seconds)


class BoundedCalls:
    """Make API calls with a deadline per request and a bounded, logged retry; see the module doc.

    :param log: where each failed attempt is logged.
    :param budget: returns the unreachable budget in seconds (read when a call starts).
    :param clock: monotonic clock, injected by tests.
    """

    def __init__(
        self,
        log: logging.Logger | logging.LoggerAdapter,
        *,
        budget: Callable[[], float] = unreachable_timeout,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.budget = budget
        self.clock = clock
        self._failing_since: dict[str, float] = {}
        #: Endpoints whose budget a call has used up: later calls try once, until one answers.
        self._spent: set[str] = set()

    def failing_since(self, endpoint: str) -> float | None:
        """Return when the current run of failures of ``endpoint`` started (None when it answers)."""
        return self._failing_since.get(endpoint)

    def call(
        self,
        invoke: Callable[[Any, float], T],
        *,
        endpoint: str,
        name: str,
        retry: bool = True,
        request_timeout: float = defaults.API_CALL_TIMEOUT_SECONDS,
    ) -> T:
        """Return ``invoke(retry_policy, request_timeout)``, which passes both to the client's method.

        :param invoke: makes the request with the given ``retry=`` and ``timeout=``.
        :param endpoint: where the request goes, as the error and the log name it.
        :param name: the call, such as ``get_job``.
        :param retry: False for a read that only informs the log: one attempt, never retried.
        :param request_timeout: deadline of each request, in seconds.
        :raises EndpointUnreachableError: the endpoint has not answered for longer than the budget.
        """
        from google.api_core import exceptions
        from google.api_core.retry import Retry

        budget = self.budget() * (defaults.TEARDOWN_UNREACHABLE_FACTOR if _TEARDOWN.get() else 1.0)
        start = self.clock()
        elapsed = start - self._failing_since.get(endpoint, start)
        remaining = max(budget - defaults.API_GIVE_UP_MARGIN_SECONDS - elapsed, 0.0)
        if not retry or endpoint in self._spent:
            remaining = 0.0
        attempts = 0

        def on_error(err: Exception) -> None:
            nonlocal attempts
            attempts += 1
            since = self._failing_since.setdefault(endpoint, start)
            waited = self.clock() - since
            if not retry:
                self.log.warning("%s to %s failed: %s", name, endpoint, _one_line(err))
                return
            self.log.warning(
                "%s to %s failed (attempt %d; no answer for %.0fs of the %.0fs allowed): %s",
                name,
                endpoint,
                attempts,
                waited,
                budget,
                _one_line(err),
            )

        policy = Retry(
            predicate=is_transient,
            initial=defaults.API_RETRY_INITIAL_SECONDS,
            maximum=defaults.API_RETRY_MAXIMUM_SECONDS,
            multiplier=defaults.API_RETRY_MULTIPLIER,
            timeout=remaining,
            on_error=on_error,
        )
        timeout = min(request_timeout, max(remaining, 1.0)) if retry else request_timeout
        try:
            result = invoke(policy, timeout)
        except exceptions.RetryError as err:
            if not retry:  # one attempt, as asked: its own error says what happened
                raise err.cause from None
            waited = self.clock() - self._failing_since.get(endpoint, start)
            self._spent.add(endpoint)
            raise EndpointUnreachableError(endpoint, name, waited, err.cause) from err
        except Exception as err:
            if not is_transient(err):
                self._answered(endpoint)  # it answered, if only with an error
            raise
        self._answered(endpoint)
        return result

    def _answered(self, endpoint: str) -> None:
        self._failing_since.pop(endpoint, None)
        self._spent.discard(endpoint)


class BoundedClient:
    """A Dataproc client whose every API call (a method with ``retry`` and ``timeout`` parameters) goes
    through :meth:`BoundedCalls.call`; anything else (paths, transport, endpoint) is the client's own.

    :param client: the google-cloud-dataproc client.
    :param calls: the hook's bounded calls.
    :param endpoint: where the client talks to.
    """

    def __init__(self, client: Any, calls: BoundedCalls, endpoint: str) -> None:
        self.client = client
        self.calls = calls
        self.endpoint = endpoint

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name.startswith("_") or not _is_api_call(type(self.client), name):
            return attr

        @functools.wraps(attr)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            return self.calls.call(
                lambda retry, timeout: attr(*args, **{"retry": retry, "timeout": timeout, **kwargs}),
                endpoint=self.endpoint,
                name=name,
            )

        return bounded


@functools.cache
def _is_api_call(client_class: type, name: str) -> bool:
    method = getattr(client_class, name, None)
    if not callable(method):
        return False
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "retry" in parameters and "timeout" in parameters


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:500]}"
