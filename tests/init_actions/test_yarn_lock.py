"""The yarn runtime's lock (YARN_LOCK in dask.sh) installs, and stays past known vulnerabilities.

The resolution test asks the package index, as the nodes' pip does: the lock and the yarn
runtime's requirements (both read from dask.sh) must resolve for Python 3.9 on x86_64 manylinux
2.28 (the oldest glibc of Dataproc's images, Rocky Linux 8) from wheels alone, to exactly the lock:
nothing it misses, nothing it pins that the requirements do not install.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.init_actions.conftest import SCRIPTS

UV = Path(sys.executable).parent / "uv"

#: The release that fixed the latest known advisory of each package the lock moved for security.
FIXED_RELEASES = {
    "aiohttp": "3.12.14",  # CVE-2025-53643
    "certifi": "2024.7.4",  # CVE-2024-39689
    "cryptography": "44.0.1",  # CVE-2024-12797
    "grpcio": "1.56.2",  # CVE-2023-33953
    "idna": "3.7",  # CVE-2024-3651
    "jinja2": "3.1.6",  # CVE-2025-27516
    "oauthlib": "3.2.1",  # CVE-2022-36087
    "pillow": "10.3.0",  # CVE-2024-28219
    "protobuf": "3.20.2",  # CVE-2022-1941 (4.x cannot load skein 0.8.1's generated code)
    "pyarrow": "14.0.1",  # CVE-2023-47248
    "requests": "2.32.4",  # CVE-2024-47081
    "setuptools": "78.1.1",  # CVE-2025-47273
    "tornado": "6.5",  # CVE-2025-47287
    "urllib3": "2.5.0",  # CVE-2025-50181
}


def script_values(command: str) -> list[str]:
    """Source dask.sh and return what COMMAND prints, one item a line."""
    result = subprocess.run(
        ["bash", "-c", f'source "$1" && {command}', "bash", str(SCRIPTS["dask.sh"])],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split("\n")[:-1]


def yarn_lock() -> dict[str, str]:
    return dict(normalized(pin).split("==") for pin in script_values('printf "%s\\n" "${YARN_LOCK[@]}"'))


def normalized(pin: str) -> str:
    name, _, version = pin.partition("==")
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split(".post")[0]))


def test_yarn_lock_resolves_to_itself_for_python_39_from_wheels(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("\n".join(script_values('printf "%s\\n" "${YARN_LOCK[@]}"')) + "\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(script_values("yarn_requirements")) + "\n")

    result = subprocess.run(
        [
            str(UV),
            "pip",
            "compile",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python-version",
            "3.9",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--only-binary",
            ":all:",
            "--no-python-downloads",
            "--constraint",
            str(lock),
            str(requirements),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, f"the yarn lock does not install:\n{result.stderr}"
    resolved = dict(normalized(line).split("==") for line in result.stdout.splitlines() if "==" in line)
    assert resolved == yarn_lock()


@pytest.mark.parametrize("package", FIXED_RELEASES)
def test_yarn_lock_holds_a_release_with_the_known_advisories_fixed(package):
    assert release(yarn_lock()[package]) >= release(FIXED_RELEASES[package])


def test_yarn_lock_keeps_the_releases_dask_yarn_runs_with():
    lock = yarn_lock()

    assert {name: lock[name] for name in ("dask", "distributed", "dask-yarn", "skein")} == {
        "dask": "2022.1.1",
        "distributed": "2022.1.1",
        "dask-yarn": "0.9",
        "skein": "0.8.1",
    }
    # dask 2022.1.1 reads and writes Parquet with pyarrow 14 at most (15 dropped ParquetDatasetPiece).
    assert release(lock["pyarrow"])[0] == 14
    # skein 0.8.1's generated code does not load with protobuf 4.
    assert release(lock["protobuf"])[0] == 3
