"""jobs/generate_csv.py: deterministic sample CSV files."""

from __future__ import annotations

import pandas as pd

from airflow_dask_provider.jobs.generate_csv import write_csv


def read_all(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def test_same_seed_writes_the_same_bytes(tmp_path):
    write_csv(str(tmp_path / "a"), rows=3_000, seed=4, rows_per_partition=1_000)
    write_csv(str(tmp_path / "b"), rows=3_000, seed=4, rows_per_partition=1_000)
    assert (tmp_path / "a" / "part-00000.csv").read_bytes() == (tmp_path / "b" / "part-00000.csv").read_bytes()


def test_another_seed_writes_other_rows(tmp_path):
    first = read_all(write_csv(str(tmp_path / "a"), rows=1_000, seed=4))
    second = read_all(write_csv(str(tmp_path / "b"), rows=1_000, seed=5))
    assert not first.equals(second)


def test_splitting_into_files_does_not_change_the_rows(tmp_path):
    whole = read_all(write_csv(str(tmp_path / "one"), rows=2_500, seed=3, rows_per_partition=1_000))
    split = read_all(write_csv(str(tmp_path / "three"), rows=2_500, seed=3, files=3, rows_per_partition=1_000))
    pd.testing.assert_frame_equal(split, whole)
    assert list(whole["event_id"]) == list(range(2_500))


def test_runs_as_a_plain_file_from_another_folder(run_job, tmp_path):
    run = run_job("generate_csv.py", "--output", "out", "--rows", "10", "--files", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.summary["files"] == [(tmp_path / "out" / f"part-0000{n}.csv").as_uri() for n in (0, 1)]
