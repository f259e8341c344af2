"""The sensors stand beside the operators: they share airflow_dask_provider.tasks, and import no operator."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import airflow_dask_provider.sensors.dataproc, airflow_dask_provider.sensors.idle, airflow_dask_provider.triggers.idle
print(sorted(m for m in sys.modules if m.startswith("airflow_dask_provider.operators")))
"""


def test_importing_the_sensors_and_triggers_loads_no_operator_module():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, check=True)

    assert result.stdout.strip().splitlines()[-1] == "[]"
