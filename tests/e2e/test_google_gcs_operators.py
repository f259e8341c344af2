"""The emulator speaks Cloud Storage: the Google provider's GCS copy and sync operators run against it unchanged."""

from __future__ import annotations

from pathlib import Path

from tests.devtools import dags_test

from .conftest import REPO, environment

BIG = bytes(range(256)) * (3 * 1024 * 1024 // 256)  # 3 MiB
SOURCE_OBJECTS = {
    "data/2024/a.csv": b"a1\n",
    "data/2024/b.csv": b"b1\n",
    "data/2024/notes.txt": b"notes",
    "data/2024/x.json": b'{"x": 1}',
    "data/y.json": b'{"y": 2}',
    "data/c.csv": b"c new",
    "data/big.bin": BIG,
    "inbox/report.txt": b"report",
}
MIRROR_BEFORE = {
    "mirror/2024/a.csv": b"a1\n",  # the same as its source: left alone
    "mirror/c.csv": b"c old",  # differs from its source: overwritten
    "mirror/stale.txt": b"stale",  # not in the source: deleted
}


def write_objects(gcs: Path, bucket: str, objects: dict[str, bytes]) -> None:
    """Write objects as the emulator keeps them: DATA_DIR/gcs/BUCKET/OBJECT."""
    for name, data in objects.items():
        path = gcs / bucket / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def bucket_contents(gcs: Path, bucket: str) -> dict[str, bytes]:
    root = gcs / bucket
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def sync_plans(run) -> list[str]:
    """The synchronization plans the sync tasks logged, in order."""
    return [message for _, message in run.log_records() if message.startswith("Planned synchronization.")]


def test_google_gcs_copy_move_and_sync_run_on_the_emulator(airflow_home, emulator):
    gcs = emulator.data_dir / "gcs"
    write_objects(gcs, "gcs-src", SOURCE_OBJECTS)
    write_objects(gcs, "gcs-mirror", MIRROR_BEFORE)
    (gcs / "gcs-dst").mkdir()
    env = {
        **environment(airflow_home, emulator, REPO / "tests" / "e2e" / "dags"),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": (
            '{"conn_type": "google_cloud_platform", "extra": {"project": "local-project", "is_anonymous": true}}'
        ),
    }

    run = dags_test("google_gcs_on_emulator", env=env)

    tasks = ("copy_wildcard", "copy_glob", "move", "sync", "sync_again")
    assert run.states == dict.fromkeys(tasks, "success"), run.output[-6000:]
    assert bucket_contents(gcs, "gcs-dst") == {
        "copied/a.csv": b"a1\n",  # data/2024/*.csv, without notes.txt
        "copied/b.csv": b"b1\n",
        "json/2024/x.json": b'{"x": 1}',  # data/ with match_glob **/*.json
        "json/y.json": b'{"y": 2}',
        "archive/report.txt": b"report",  # moved
    }
    assert "inbox/report.txt" not in bucket_contents(gcs, "gcs-src")
    expected_mirror = {
        f"mirror/{name.removeprefix('data/')}": data
        for name, data in SOURCE_OBJECTS.items()
        if name.startswith("data/")
    }
    assert bucket_contents(gcs, "gcs-mirror") == expected_mirror
    assert sync_plans(run) == [
        "Planned synchronization. To delete blobs count: 1, to upload blobs count: 5, to rewrite blobs count: 1",
        "Planned synchronization. To delete blobs count: 0, to upload blobs count: 0, to rewrite blobs count: 0",
    ]
