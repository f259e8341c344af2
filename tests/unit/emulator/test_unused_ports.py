"""``unused_ports`` gives ports a service started later can still bind: free, distinct, outside the ephemeral range."""

from __future__ import annotations

import socket

import pytest

from dask_dataproc_emulator import testing
from dask_dataproc_emulator.testing import ephemeral_port_range, unused_ports


def test_the_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    low, _ = ephemeral_port_range()
    ports = unused_ports(7)

    assert len(set(ports)) == 7
    assert all(1024 <= port < low for port in ports)
    for port in ports:
        with socket.socket() as service:
            service.bind(("127.0.0.1", port))


def test_where_the_ephemeral_range_starts_low_the_ports_lie_above_it(mocker):
    mocker.patch.object(testing, "ephemeral_port_range", return_value=(1024, 60999))

    assert all(60999 < port <= 65535 for port in unused_ports(3))


def test_a_port_something_listens_on_is_never_given(mocker):
    """The span is the one taken port, so giving it would be the only way not to fail."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        mocker.patch.object(testing, "ephemeral_port_range", return_value=(port + 1, 60999))
        mocker.patch.object(testing, "RESERVED_SPAN", 1)

        with pytest.raises(OSError, match=f"no 1 unused ports of 127.0.0.1 between {port} and {port}"):
            unused_ports(1)


def test_the_kernels_range_is_read_where_it_says_one():
    low, high = ephemeral_port_range()

    assert 1024 <= low < high <= 65535
