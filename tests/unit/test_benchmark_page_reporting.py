"""The job benchmark says whether this VM hands freed memory back to its hypervisor, and how to stop it."""

from __future__ import annotations

import importlib.util
import sys
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
