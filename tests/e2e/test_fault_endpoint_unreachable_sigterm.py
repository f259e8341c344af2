"""Issue 20 acceptance: the endpoint goes away by SIGTERM (the emulator deletes its clusters, then exits)
while a task waits for a running job. The run and its checks are in ``endpoint_unreachable.py``."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.e2e.endpoint_unreachable")  # its checks report as a test module's do

from .endpoint_unreachable import EndpointUnreachableChecks  # noqa: E402


class TestSigterm(EndpointUnreachableChecks):
    signal_name = "SIGTERM"
