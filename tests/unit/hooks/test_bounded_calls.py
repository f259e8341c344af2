"""Deadlines and bounded, logged retries of the hook's API calls (no network, a fake clock)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.api_core.retry import Retry

from airflow_dask_provider.exceptions import EndpointUnreachableError
from airflow_dask_provider.hooks import bounded
from airflow_dask_provider.hooks.bounded import BoundedCalls, BoundedClient, is_transient, teardown

from ...recording_log import RecordingLog

ENDPOINT = "127.0.0.1:9"
REFUSED = exceptions.ServiceUnavailable("failed to connect to all addresses; Connection refused")


class FakeClock:
    """The clock of the calls and of google-api-core's retry loop; sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(mocker) -> FakeClock:
    fake = FakeClock()
    mocker.patch("google.api_core.retry.retry_unary.time", fake)
    mocker.patch("google.api_core.retry.retry_base.time", fake)
    return fake


@pytest.fixture
def log() -> RecordingLog:
    return RecordingLog()


def calls_with(clock: FakeClock, log: RecordingLog, budget: float = 60.0) -> BoundedCalls:
    return BoundedCalls(log, budget=lambda: budget, clock=clock.monotonic)


class Endpoint:
    """An invoke function that fails with ``errors`` (one per attempt), then answers ``result``."""

    def __init__(self, clock: FakeClock, *errors: Exception, result: object = "answer", cost: float = 0.1) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.result = result
        self.cost = cost
        self.requests: list[tuple[Retry, float]] = []

    def __call__(self, retry: Retry, timeout: float) -> object:
        def attempt() -> object:
            self.requests.append((retry, timeout))
            self.clock.now += self.cost
            if self.errors:
                error = self.errors[0] if len(self.errors) == 1 and self.errors[0] is REFUSED else self.errors.pop(0)
                raise error
            return self.result

        return retry(attempt)()


def test_a_call_that_answers_gets_a_request_deadline_and_a_retry(clock, log):
    endpoint = Endpoint(clock)

    assert calls_with(clock, log).call(endpoint, endpoint=ENDPOINT, name="get_job") == "answer"
    [(retry, timeout)] = endpoint.requests
    assert timeout == 30.0
    assert isinstance(retry, Retry) and retry._timeout == 55.0  # the last retry starts 5 s before the budget ends
    assert log.lines == []


def test_transient_errors_are_retried_and_each_attempt_is_logged(clock, log):
    endpoint = Endpoint(clock, REFUSED.__class__("once"), exceptions.DeadlineExceeded("twice"))

    assert calls_with(clock, log).call(endpoint, endpoint=ENDPOINT, name="get_job") == "answer"
    assert len(endpoint.requests) == 3
    warnings = log.lines
    assert len(warnings) == 2
    assert all("get_job to 127.0.0.1:9 failed" in line for line in warnings)
    assert "attempt 1" in warnings[0] and "once" in warnings[0]
    assert "attempt 2" in warnings[1] and "twice" in warnings[1]


def test_an_endpoint_that_never_answers_fails_within_the_budget_naming_it(clock, log):
    endpoint = Endpoint(clock, REFUSED)
    start = clock.now

    with pytest.raises(EndpointUnreachableError) as raised:
        calls_with(clock, log).call(endpoint, endpoint=ENDPOINT, name="get_job")

    assert clock.now - start <= 60.0
    assert raised.value.endpoint == ENDPOINT and raised.value.call == "get_job"
    assert raised.value.last_error is REFUSED
    assert "127.0.0.1:9" in str(raised.value) and "get_job" in str(raised.value)
    assert "Connection refused" in str(raised.value)
    assert len(log.lines) == len(endpoint.requests) > 5


def test_the_budget_runs_from_the_first_failure_across_calls(clock, log):
    calls = calls_with(clock, log)
    first_failure = clock.now
    for _ in range(3):  # the polls of a wait
        with pytest.raises(EndpointUnreachableError):
            calls.call(Endpoint(clock, REFUSED), endpoint=ENDPOINT, name="get_job")
    next_poll = Endpoint(clock, REFUSED)

    with pytest.raises(EndpointUnreachableError):
        calls.call(next_poll, endpoint=ENDPOINT, name="get_job")

    assert len(next_poll.requests) == 1  # one more try, no second budget
    assert clock.now - first_failure <= 60.5


def test_an_answer_even_an_error_ends_the_run_of_failures(clock, log):
    calls = calls_with(clock, log, budget=10.0)
    with pytest.raises(EndpointUnreachableError):
        calls.call(Endpoint(clock, REFUSED), endpoint=ENDPOINT, name="get_job")

    with pytest.raises(exceptions.NotFound):
        calls.call(Endpoint(clock, exceptions.NotFound("no such job")), endpoint=ENDPOINT, name="get_job")

    assert calls.failing_since(ENDPOINT) is None
    assert calls.call(Endpoint(clock, REFUSED.__class__("blip")), endpoint=ENDPOINT, name="get_job") == "answer"


def test_other_endpoints_keep_their_own_budget(clock, log):
    calls = calls_with(clock, log, budget=10.0)
    with pytest.raises(EndpointUnreachableError):
        calls.call(Endpoint(clock, REFUSED), endpoint=ENDPOINT, name="get_job")

    assert calls.call(Endpoint(clock, REFUSED.__class__("blip")), endpoint="http://storage", name="list") == "answer"


def test_non_transient_errors_are_raised_at_once(clock, log):
    endpoint = Endpoint(clock, exceptions.PermissionDenied("no"))

    with pytest.raises(exceptions.PermissionDenied):
        calls_with(clock, log).call(endpoint, endpoint=ENDPOINT, name="get_job")

    assert len(endpoint.requests) == 1
    assert log.lines == []


def test_a_teardown_keeps_trying_a_quarter_longer(clock, log):
    endpoint = Endpoint(clock, REFUSED)
    start = clock.now

    with teardown(), pytest.raises(EndpointUnreachableError):
        calls_with(clock, log).call(endpoint, endpoint=ENDPOINT, name="delete_cluster")

    assert 60.0 < clock.now - start <= 75.0
    assert endpoint.requests[0][0]._timeout == 70.0


def test_an_informative_read_is_tried_once_with_a_short_deadline(clock, log):
    endpoint = Endpoint(clock, REFUSED)

    with pytest.raises(exceptions.ServiceUnavailable):
        calls_with(clock, log).call(endpoint, endpoint=ENDPOINT, name="list_blobs", retry=False, request_timeout=10.0)

    assert [timeout for _, timeout in endpoint.requests] == [10.0]
    [warning] = log.lines
    assert "list_blobs to 127.0.0.1:9 failed" in warning


def test_a_request_deadline_never_outlasts_the_budget(clock, log):
    endpoint = Endpoint(clock)

    calls_with(clock, log, budget=12.0).call(endpoint, endpoint=ENDPOINT, name="get_job")

    assert endpoint.requests[0][1] == 7.0


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (exceptions.ServiceUnavailable("x"), True),
        (exceptions.DeadlineExceeded("x"), True),
        (exceptions.InternalServerError("x"), True),
        (exceptions.GatewayTimeout("x"), True),
        (exceptions.NotFound("x"), False),
        (exceptions.FailedPrecondition("x"), False),
        (ValueError("x"), False),
    ],
)
def test_which_errors_are_transient(error, transient):
    import requests

    assert is_transient(error) is transient
    assert is_transient(requests.ConnectionError("refused")) and is_transient(requests.ReadTimeout("slow"))


def test_the_budget_comes_from_the_config(monkeypatch):
    assert bounded.unreachable_timeout() == 60.0
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__API_UNREACHABLE_TIMEOUT", "2m")

    assert bounded.unreachable_timeout() == 120.0


class FakeDataprocClient:
    api_endpoint = "europe-west1-dataproc.googleapis.com:443"

    def get_cluster(self, *, project_id=None, cluster_name=None, retry=None, timeout=None, metadata=()):
        return {"cluster_name": cluster_name, "retry": retry, "timeout": timeout}

    @staticmethod
    def cluster_path(project, region, cluster):
        return f"projects/{project}/regions/{region}/clusters/{cluster}"


def test_a_bounded_client_passes_a_deadline_and_a_retry_to_every_api_call(clock, log):
    client = BoundedClient(FakeDataprocClient(), calls_with(clock, log), ENDPOINT)

    answer = client.get_cluster(project_id="p", cluster_name="c")

    assert answer["cluster_name"] == "c" and answer["timeout"] == 30.0
    assert isinstance(answer["retry"], Retry)
    assert client.cluster_path("p", "r", "c") == "projects/p/regions/r/clusters/c"
    assert client.api_endpoint == "europe-west1-dataproc.googleapis.com:443"
