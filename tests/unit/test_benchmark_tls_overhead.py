"""``benchmarks/tls_overhead.py --quick`` runs both setups, shows the TLS cluster refuses strangers, ends with a RESULT line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_tls_benchmark_runs_proves_tls_and_its_result_line_parses(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DASK_SCHEDULER_ADDRESS", "PYTHONDONTWRITEBYTECODE")}
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "tls_overhead.py"),
            "--quick",
            "--rounds",
            "1",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("RESULT tls_overhead_pct=")
    figures = dict(item.split("=", 1) for item in lines[-1].split()[1:])
    assert set(figures) == {"tls_overhead_pct", "tls_overhead_best_pct", "plain_median_s", "tls_median_s"}
    for value in figures.values():
        float(value)  # each figure parses as a number
    assert any(line.startswith("TLS cluster: scheduler tls://") for line in lines)
    assert "  a plain tcp:// client (no credential): refused (" in proc.stdout
    assert "  a TLS client with a certificate the cluster did not issue: refused (" in proc.stdout
    assert "TLS check: the TLS cluster refused every client without its credential" in proc.stdout
    assert "every run's result equals the reference" in proc.stdout
