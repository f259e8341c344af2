"""A fake Dataproc node to run the initialization actions on.

Every path the scripts touch lives under a throwaway root (``INIT_ACTION_ROOT``); the metadata
server, systemd, conda, pip, mount and friends are small stubs found first on ``PATH`` that append
each call to a log the tests read. The node looks like an n2-standard-4: 4 vCPUs and 16 GiB, with
the internal address 10.128.0.7. The accounts commands (``id``, ``useradd``, ``chown``) are stubs
too unless a node asks for the real ones, so the tests need no root but those that run processes
as the ``dask`` user.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from airflow_dask_provider.bundled import init_action_path

SCRIPTS = {name: init_action_path(name) for name in ("dask.sh", "nfs-mount.sh")}
GIB_IN_KB = 1024 * 1024

KNOX_TOPOLOGY = """<?xml version="1.0" encoding="utf-8"?>
<topology>
    <gateway>
        <provider><role>authentication</role><name>Anonymous</name><enabled>true</enabled></provider>
    </gateway>
    <service>
        <role>YARNUIV2</role>
        <url>http://localhost:8088</url>
    </service>
</topology>
"""

# Each stub logs "NAME ARGS..." to $STUB_CALLS, its arguments quoted for shlex.split. A stub fails
# while $STUB_STATE/NAME.failures holds a count above zero, counting it down, so tests can make a
# command fail a few times.
STUB_PRELUDE = """#!/usr/bin/env bash
set -euo pipefail
name="{name}"
{{ printf '%s' "${{name}}"; printf ' %q' "$@"; printf '\\n'; }} >>"${{STUB_CALLS}}"
failures="${{STUB_STATE}}/${{name}}.failures"
if [[ -f "${{failures}}" ]] && (( $(cat "${{failures}}") > 0 )); then
  echo $(( $(cat "${{failures}}") - 1 )) >"${{failures}}"
  exit 1
fi
"""

STUBS = {
    "systemctl": "",
    "sleep": "",
    # gcloud storage cp SOURCE DEST: the cluster's TLS credential ($STUB_TLS_CREDENTIAL) when SOURCE is
    # the node's dask-tls-uri, else a pip constraints file.
    "gcloud": (
        'if [[ "$1 $2" == "storage cp" ]]; then\n'
        '  tls_uri="${STUB_METADATA}/attributes/dask-tls-uri"\n'
        '  if [[ -f "${tls_uri}" && "${@: -2:1}" == "$(cat "${tls_uri}")" ]]; then\n'
        '    cat "${STUB_TLS_CREDENTIAL}" >"${@: -1}"\n'
        "  else\n"
        '    printf "dask==2026.8.0\\n" >"${@: -1}"\n'
        "  fi\n"
        "fi\n"
    ),
    "apt-get": "",
    "hostname": 'printf "%s\\n" "${STUB_HOSTNAME}"\n',
    "nproc": 'printf "%s\\n" "${STUB_NPROC}"\n',
    # mount: the export now shows in /proc/mounts, as the kernel would show it.
    "mount": 'printf "%s %s nfs rw 0 0\\n" "${@: -2:1}" "${@: -1}" >>"${INIT_ACTION_ROOT}/proc/mounts"\n',
    # The Python interpreter that makes virtual environments: `python3 -m venv DIR`.
    "python3": (
        'if [[ "$1 $2" == "-m venv" ]]; then\n  mkdir -p "$3/bin"; cp "${STUB_BIN}/venv-python" "$3/bin/python"\nfi\n'
    ),
    # conda create ... --prefix DIR ...: a Python in DIR.
    "conda": (
        'prefix=""; previous=""\n'
        'for arg in "$@"; do [[ "${previous}" == --prefix ]] && prefix="${arg}"; previous="${arg}"; done\n'
        'mkdir -p "${prefix}/bin"; cp "${STUB_BIN}/venv-python" "${prefix}/bin/python"\n'
    ),
    # The Python of an environment: records `-m pip install ...`.
    "venv-python": "",
    # Dataproc's metadata reader: `get_metadata_value attributes/NAME` or `network-interfaces/0/ip`,
    # from the files of those paths in $STUB_METADATA.
    "get_metadata_value": '[[ "$1" != *..* && -f "${STUB_METADATA}/$1" ]] || exit 1\ncat "${STUB_METADATA}/$1"\n',
}

#: The accounts commands, stubbed unless a node runs them for real: `id USER` succeeds once
#: `useradd ... USER` has made it; chown only logs.
ACCOUNT_STUBS = {
    "id": '[[ -f "${STUB_STATE}/user-${@: -1}" ]]\n',
    "useradd": 'touch "${STUB_STATE}/user-${@: -1}"\n',
    "chown": "",
}

TLS_URI = "gs://dask-etl-staging/dask/tls/cluster.pem"
BASE_METADATA = {"dataproc-master": "dask-etl-m", "dataproc-worker-count": "2", "dask-tls-uri": TLS_URI}


def make_credential() -> str:
    """Return a new cluster TLS credential as the provider makes it: certificate, then private key."""
    from distributed.security import Security

    security = Security.temporary()
    return security.tls_ca_file + security.tls_client_key


@cache
def cluster_credential() -> str:
    """The TLS credential every fake node of this test session gets from its dask-tls-uri."""
    return make_credential()


def _write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class FakeNode:
    """A Dataproc node of one role, and a way to run an initialization action on it."""

    base: Path
    hostname: str
    metadata: dict[str, str]
    vcpus: int = 4
    memory_gib: int = 16
    local_ssds: int = 1
    knox: bool = False
    #: The node's network-interfaces/0/ip in the metadata server, or None for none.
    internal_ip: str | None = "10.128.0.7"
    #: What gcloud copies from the node's dask-tls-uri.
    tls_credential: str = field(default_factory=cluster_credential)
    #: Run the real id, useradd and chown rather than stubs (needs root).
    real_accounts: bool = False
    runs: list[subprocess.CompletedProcess] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def bin(self) -> Path:
        return self.base / "bin"

    @property
    def conda_home(self) -> Path:
        return self.base / "conda"

    @property
    def calls_file(self) -> Path:
        return self.base / "calls.log"

    @property
    def state(self) -> Path:
        return self.base / "state"

    def build(self) -> FakeNode:
        stubs = STUBS if self.real_accounts else {**STUBS, **ACCOUNT_STUBS}
        for name, body in stubs.items():
            target = self.conda_home / "bin" / name if name in ("python3", "conda") else self.bin / name
            _write_executable(target, STUB_PRELUDE.format(name=name) + body)
        proc = self.root / "proc"
        proc.mkdir(parents=True)
        (proc / "meminfo").write_text(
            f"MemTotal:       {self.memory_gib * GIB_IN_KB} kB\nMemFree:        {GIB_IN_KB} kB\n"
        )
        mounts = ["/dev/sda1 / ext4 rw,relatime 0 0"]
        mounts += [f"/dev/nvme0n{i} /mnt/{i} ext4 rw,relatime 0 0" for i in range(1, self.local_ssds + 1)]
        (proc / "mounts").write_text("\n".join(mounts) + "\n")
        (self.root / "etc").mkdir()
        (self.root / "etc" / "fstab").write_text("# /etc/fstab\nUUID=abc / ext4 defaults 0 1\n")
        if self.knox:
            (self.root / "usr/lib/knox/data/deployments/default.topo.123").mkdir(parents=True)
            topology = self.root / "etc/knox/conf/topologies/default.xml"
            topology.parent.mkdir(parents=True)
            topology.write_text(KNOX_TOPOLOGY)
        self.state.mkdir()
        self.calls_file.touch()
        return self

    def environment(self) -> dict[str, str]:
        metadata_dir = self.base / "metadata"
        shutil.rmtree(metadata_dir, ignore_errors=True)
        (metadata_dir / "attributes").mkdir(parents=True)
        for key, value in self.metadata.items():
            (metadata_dir / "attributes" / key).write_text(value)
        if self.internal_ip is not None:
            (metadata_dir / "network-interfaces/0").mkdir(parents=True)
            (metadata_dir / "network-interfaces/0/ip").write_text(self.internal_ip)
        credential = self.base / "credential.pem"
        credential.write_text(self.tls_credential)
        return {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.base),
            "LANG": "C.UTF-8",
            "INIT_ACTION_ROOT": str(self.root),
            "INIT_ACTION_METADATA_READER": str(self.bin / "get_metadata_value"),
            "INIT_ACTION_CONDA_HOME": str(self.conda_home),
            "STUB_BIN": str(self.bin),
            "STUB_CALLS": str(self.calls_file),
            "STUB_STATE": str(self.state),
            "STUB_METADATA": str(metadata_dir),
            "STUB_TLS_CREDENTIAL": str(credential),
            "STUB_HOSTNAME": self.hostname,
            "STUB_NPROC": str(self.vcpus),
        }

    def run(self, script: str = "dask.sh", *, check: bool = True) -> subprocess.CompletedProcess:
        """Run an initialization action with bash, as Dataproc does; fail the test if it fails."""
        self.calls_file.write_text("")
        result = subprocess.run(
            ["bash", str(SCRIPTS[script])],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.runs.append(result)
        if check:
            assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def fail_next(self, command: str, times: int) -> None:
        """Make the stub COMMAND fail its next TIMES calls."""
        (self.state / f"{command}.failures").write_text(str(times))

    def call_args(self, command: str) -> list[list[str]]:
        """Return the arguments of each call the last run made to the stub COMMAND."""
        argvs = [shlex.split(line) for line in self.calls_file.read_text().splitlines()]
        return [argv[1:] for argv in argvs if argv[0] == command]

    def calls(self, command: str | None = None) -> list[str]:
        """Return the stub calls of the last run as text, optionally only those of one command."""
        argvs = [shlex.split(line) for line in self.calls_file.read_text().splitlines()]
        if command is None:
            return [" ".join(argv) for argv in argvs]
        return [" ".join(argv[1:]) for argv in argvs if argv[0] == command]

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()

    def exists(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).exists()

    def mode(self, path: str) -> int:
        return stat.S_IMODE((self.root / path.lstrip("/")).stat().st_mode)

    def tree(self) -> dict[str, tuple]:
        """Every path under the root with its kind, mode and bytes (or link target)."""
        snapshot: dict[str, tuple] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                key = str(path.relative_to(self.root))
                info = path.lstat()
                if path.is_symlink():
                    snapshot[key] = ("link", os.readlink(path))
                elif path.is_dir():
                    snapshot[key] = ("dir", stat.S_IMODE(info.st_mode))
                else:
                    snapshot[key] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
        return snapshot


@pytest.fixture
def make_node(tmp_path):
    """Build a fake node: ``make_node("Worker", metadata={...}, local_ssds=0, knox=True)``."""
    count = 0

    def make(role: str, *, hostname: str | None = None, metadata: dict[str, str] | None = None, **kwargs):
        nonlocal count
        count += 1
        default_host = "dask-etl-m" if role == "Master" else "dask-etl-w-0"
        node = FakeNode(
            base=tmp_path / f"node{count}",
            hostname=hostname or default_host,
            metadata={"dataproc-role": role, **BASE_METADATA, **(metadata or {})},
            **kwargs,
        )
        return node.build()

    return make
