"""Issue 20 acceptance: the endpoint goes away by SIGKILL (the emulator is gone at once) while a task waits
for a running job. The run and its checks are in ``endpoint_unreachable.py``."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.e2e.endpoint_unreachable")  # its checks report as a test module's do

from .endpoint_unreachable import EndpointUnreachableChecks  # noqa: E402


class TestSigkill(EndpointUnreachableChecks):
    signal_name = "SIGKILL"
