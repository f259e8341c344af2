"""The local stack as a user leaves it running: its scheduled DAGs work against the emulator, not Google Cloud;
it listens on 127.0.0.1 only, and its admin logs in with the password its first start made and showed."""

from __future__ import annotations

import ipaddress
import stat
import urllib.error
import urllib.parse
from pathlib import Path

import pytest

REAPER = "dask_orphan_reaper"


def test_the_hourly_reaper_runs_green_against_the_emulator(local_stack):
    stack = local_stack

    def first_scheduled_run() -> dict | None:
        runs = [r for r in stack.api(f"/dags/{REAPER}/dagRuns")["dag_runs"] if r["run_type"] == "scheduled"]
        return runs[0] if runs and runs[0]["state"] in ("success", "failed") else None

    run = stack.wait_for(f"{REAPER}'s first scheduled run to end", first_scheduled_run, timeout=300, interval=3)
    run_id = run["dag_run_id"]
    assert run["state"] == "success", stack.explain(REAPER, run_id)
    rows = stack.api(
        f"/dags/{REAPER}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        "/taskInstances/reap_clusters/xcomEntries/return_value"
    )["value"]
    text = "".join(path.read_text() for path in stack.task_logs(REAPER, run_id, "reap_clusters"))
    assert f"Reaper deleted 0 of {len(rows)} clusters of this provider in local-project / europe-west1" in text


def test_the_admin_logs_in_with_the_password_the_start_made_and_showed_once(local_stack):
    stack = local_stack
    secrets = stack.passwords_file.parent

    assert stack.admin_password not in ("", "admin")
    assert stack.start_output.count(stack.admin_password) == 1, stack.start_output
    assert stack.token("admin", stack.admin_password)
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.token("admin", "admin")
    assert refused.value.code == 401
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in secrets.iterdir()} == dict.fromkeys(
        ["fernet_key", "jwt_secret", "simple_auth_manager_passwords.json", "pgpass"], 0o600
    )


def test_nothing_of_the_stack_listens_beyond_loopback(local_stack):
    """Every listening socket of the stack's processes and their children, as the kernel lists them."""
    processes = descendants(local_stack.pids.values())
    listening = listening_sockets()
    found = {listening[inode]: pid for pid in processes for inode in socket_inodes(pid) if inode in listening}

    assert {address for address in found if not address[0].is_loopback} == set(), found
    ports = {port for _, port in found}
    values = local_stack.values
    for name in ("postgres_port", "apiserver_port", "emulator_port", "storage_port", "scheduler_health_port"):
        assert values[name] in ports, f"nothing listens on {name} {values[name]}: {found}"


def descendants(roots) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat_file.parent.name))
    seen: set[int] = set()
    waiting = [pid for pid in roots if pid]
    while waiting:
        pid = waiting.pop()
        if pid not in seen:
            seen.add(pid)
            waiting.extend(children.get(pid, []))
    return seen


def listening_sockets() -> dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """Socket inode: (address, port) of every listening TCP socket (/proc/net/tcp and tcp6)."""
    found = {}
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
            ip = ipaddress.ip_address(raw)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            found[fields[9]] = (ip, int(port, 16))
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*") if Path(f"/proc/{pid}").exists() else []:
        try:
            target = fd.readlink()
        except OSError:
            continue
        if str(target).startswith("socket:["):
            inodes.add(str(target)[len("socket:[") : -1])
    return inodes
