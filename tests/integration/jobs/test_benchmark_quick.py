"""``benchmarks/jobs.py --quick`` runs every job three ways and ends with a RESULT line (no timing checks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import REPO


def test_quick_benchmark_runs_and_its_result_line_parses(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "PYTHONDONTWRITEBYTECODE")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "jobs.py"), "--quick", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    figures = dict(item.split("=") for item in last.split()[1:])
    assert {"csv_speedup_2w", "parquet_speedup_2w", "csv_ceiling_frac"} <= set(figures)
    assert {f"{job}_speedup_2w" for job in ("wordcount", "ml", "graph")} <= set(figures)
    assert all(re.fullmatch(r"\d+\.\d+", value) for value in figures.values())
    assert "results equal the reference" in proc.stdout
