"""``benchmarks/jobs.py --quick`` runs every job three ways, ends with a RESULT line, changes no machine setting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PAGE_REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")


def _page_reporting_order() -> str | None:
    try:
        return PAGE_REPORTING_ORDER.read_text()
    except OSError:
        return None


def test_quick_benchmark_runs_and_its_result_line_parses(tmp_path):
    order = _page_reporting_order()
    env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "PYTHONDONTWRITEBYTECODE")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "jobs.py"), "--quick", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    figures = dict(item.split("=") for item in last.split()[1:])
    assert {"csv_speedup_2w", "parquet_speedup_2w", "csv_ceiling_frac"} <= set(figures)
    assert {f"{job}_speedup_2w" for job in ("wordcount", "ml", "graph")} <= set(figures)
    assert all(re.fullmatch(r"\d+\.\d+", value) for value in figures.values())
    assert "results equal the reference" in proc.stdout
    # A smoke run's figures mean nothing: it leaves the machine's free page reporting as it was.
    assert "held off" not in proc.stdout
    assert _page_reporting_order() == order
