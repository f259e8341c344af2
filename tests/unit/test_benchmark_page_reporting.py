"""The job benchmark says whether this VM hands freed memory back to its hypervisor, holds that off, and restores it."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_jobs", REPO / "benchmarks" / "jobs.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_jobs", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "BALLOONS", tmp_path / "virtio_balloon")
    monkeypatch.setattr(module, "PAGE_REPORTING_ORDER", tmp_path / "page_reporting_order")
    return module


def machine(bench, features: str | None, order: str | None) -> None:
    """Write a balloon device's feature bits and the reporting order where ``bench`` reads them."""
    if features is not None:
        device = bench.BALLOONS / "virtio0"
        device.mkdir(parents=True)
        (device / "features").write_text(features + "\n")
    if order is not None:
        bench.PAGE_REPORTING_ORDER.write_text(order + "\n")


REPORTING = "011001010000000000000000000000001"  # this project's VM: feature 5 (free page reporting) set
NO_REPORTING = "011000010000000000000000000000001"


def test_reporting_on_names_the_order_and_how_to_turn_it_off_and_back(bench):
    machine(bench, REPORTING, "9")

    assert bench.free_page_reporting() == 9
    line = bench.page_reporting_line(9)
    assert "Free page reporting is on (order 9)" in line
    assert f"echo 11 > {bench.PAGE_REPORTING_ORDER}" in line
    assert "echo 9 restores it" in line


def test_reporting_turned_off_is_said_so(bench):
    machine(bench, REPORTING, "11")

    assert bench.free_page_reporting() == 11
    assert bench.page_reporting_line(11) == f"Free page reporting is off ({bench.PAGE_REPORTING_ORDER} is 11)."


@pytest.mark.parametrize(
    ("features", "order"),
    [(None, "9"), (NO_REPORTING, "9"), (REPORTING, None), (REPORTING, "not a number")],
    ids=["no balloon", "balloon without reporting", "no reporting module", "unreadable order"],
)
def test_a_machine_without_reporting_gets_no_line(bench, features, order):
    machine(bench, features, order)

    assert bench.free_page_reporting() is None
    assert bench.page_reporting_line(None) == ""


def test_reporting_is_held_off_while_the_benchmark_runs_and_restored_after(bench):
    machine(bench, REPORTING, "9")

    with bench.page_reporting_held_off() as line:
        assert bench.PAGE_REPORTING_ORDER.read_text() == "11\n"
        assert line.startswith("Free page reporting is held off while this runs")
        assert "9 -> 11" in line and "--keep-page-reporting" in line

    assert bench.PAGE_REPORTING_ORDER.read_text() == "9\n"


def test_reporting_is_restored_when_the_benchmark_fails(bench):
    machine(bench, REPORTING, "9")

    with pytest.raises(RuntimeError, match="a run failed"), bench.page_reporting_held_off():
        raise RuntimeError("a run failed")

    assert bench.PAGE_REPORTING_ORDER.read_text() == "9\n"


def test_sigterm_ends_the_benchmark_with_reporting_restored(bench):
    machine(bench, REPORTING, "9")
    before = signal.getsignal(signal.SIGTERM)

    with pytest.raises(SystemExit) as stopped, bench.page_reporting_held_off():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs at the next bytecode: the sleep is interrupted

    assert stopped.value.code == 128 + signal.SIGTERM
    assert bench.PAGE_REPORTING_ORDER.read_text() == "9\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_keep_leaves_reporting_on_and_says_how_to_turn_it_off(bench):
    machine(bench, REPORTING, "9")

    with bench.page_reporting_held_off(keep=True) as line:
        assert bench.PAGE_REPORTING_ORDER.read_text() == "9\n"

    assert line == bench.page_reporting_line(9)
    assert bench.PAGE_REPORTING_ORDER.read_text() == "9\n"


def test_reporting_already_off_is_left_alone(bench):
    machine(bench, REPORTING, "11")

    with bench.page_reporting_held_off() as line:
        pass

    assert line == bench.page_reporting_line(11)
    assert bench.PAGE_REPORTING_ORDER.read_text() == "11\n"


def test_without_permission_reporting_stays_on_and_the_line_says_how(bench, monkeypatch):
    class ReadOnly:  # as sysfs is to a user who is not root
        def read_text(self) -> str:
            return "9\n"

        def write_text(self, text: str) -> int:
            raise PermissionError(13, "Permission denied")

        def __str__(self) -> str:
            return "/sys/module/page_reporting/parameters/page_reporting_order"

    machine(bench, REPORTING, None)
    monkeypatch.setattr(bench, "PAGE_REPORTING_ORDER", ReadOnly())

    with bench.page_reporting_held_off() as line:
        pass

    assert line == bench.page_reporting_line(9)
    assert "Run as root and the benchmark holds it off" in line
    assert "echo 11 > /sys/module/page_reporting/parameters/page_reporting_order" in line


def test_a_machine_without_reporting_is_left_alone(bench):
    machine(bench, NO_REPORTING, "9")

    with bench.page_reporting_held_off() as line:
        pass

    assert line == ""
    assert bench.PAGE_REPORTING_ORDER.read_text() == "9\n"
