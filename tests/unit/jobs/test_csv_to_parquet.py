"""jobs/csv_to_parquet.py, run as a plain file against a real two-worker Dask cluster."""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from airflow_dask_provider.jobs import csv_to_parquet
from airflow_dask_provider.jobs.generate_csv import write_csv
from dask_dataproc_emulator.testing import unused_ports

from .conftest import JOBS, Run

ROWS = 20_000
ROWS_PER_PARTITION = 5_000
#: Small enough that each CSV file (about 280 kB) is read in several blocks, split mid-file.
BLOCKSIZE = "100KiB"


def sample_args(seed: int) -> list[str]:
    return ["--sample-rows", str(ROWS), "--seed", str(seed), "--rows-per-partition", str(ROWS_PER_PARTITION)]


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("event_id", ignore_index=True)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("csv_to_parquet")


@pytest.fixture(scope="module")
def convert(run_job, dask_cluster, workdir) -> Callable[..., Run]:
    """``convert(*args)``: run csv_to_parquet.py on the test cluster."""
    address = dask_cluster.scheduler_address
    return partial(run_job, "csv_to_parquet.py", "--scheduler-address", address, "--checksum", cwd=workdir)


@pytest.fixture(scope="module")
def csv_files(workdir) -> list[str]:
    return write_csv(str(workdir / "csv"), rows=ROWS, seed=11, files=3, rows_per_partition=ROWS_PER_PARTITION)


@pytest.fixture(scope="module")
def csv_run(convert, workdir, csv_files) -> Run:
    output = workdir / "from_csv"
    return convert("--input", str(workdir / "csv"), "--output", str(output), "--blocksize", BLOCKSIZE)


@pytest.fixture(scope="module")
def sample_run(convert, workdir) -> Run:
    return convert("--output", str(workdir / "sample_1"), *sample_args(1))


@pytest.fixture(scope="module")
def pandas_conversion(csv_files, workdir) -> pd.DataFrame:
    """The same CSV files converted in one process by pandas alone, as read back from its Parquet file."""
    frame = pd.concat([pd.read_csv(path, engine="pyarrow", dtype_backend="pyarrow") for path in csv_files])
    frame.to_parquet(workdir / "pandas.parquet", index=False)
    return pd.read_parquet(workdir / "pandas.parquet", dtype_backend="pyarrow")


# -- conversion on the cluster ------------------------------------------------------------------


def test_csv_conversion_writes_what_pandas_reads_from_the_csv(csv_run, workdir, pandas_conversion):
    assert csv_run.returncode == 0, csv_run.stderr
    written = pd.read_parquet(workdir / "from_csv", dtype_backend="pyarrow")
    pd.testing.assert_frame_equal(sorted_frame(written), sorted_frame(pandas_conversion))


def test_csv_conversion_checksum_equals_single_process_pandas_checksum(csv_run, pandas_conversion):
    assert csv_run.summary["checksum"] == f"{csv_to_parquet.dask_job.frame_checksum(pandas_conversion):016x}"


def test_summary_is_the_only_stdout_line_and_describes_the_run(csv_run, workdir, csv_files):
    summary = csv_run.summary
    assert summary["job"] == "csv_to_parquet"
    assert summary["rows"] == ROWS
    assert summary["partitions"] > len(csv_files)
    assert summary["workers"] == 2
    assert summary["input"] == str(workdir / "csv")
    assert summary["output"] == str(workdir / "from_csv")
    assert summary["columns"] == ["event_id", "ts", "user_id", "country", "amount", "quantity"]
    assert summary["seconds"] > 0


def test_without_checksum_the_summary_counts_the_rows_and_has_no_checksum(run_job, dask_cluster, workdir):
    output = workdir / "sample_unchecked"
    run = run_job(
        "csv_to_parquet.py",
        "--scheduler-address",
        dask_cluster.scheduler_address,
        "--output",
        str(output),
        *sample_args(1),
        cwd=workdir,
    )

    assert run.returncode == 0, run.stderr
    assert (run.summary["rows"], run.summary["checksum"]) == (ROWS, None)
    assert len(pd.read_parquet(output)) == ROWS


def test_sample_mode_with_the_same_seed_gives_the_same_checksum(convert, workdir, sample_run):
    again = convert("--output", str(workdir / "sample_1_again"), *sample_args(1))
    assert again.returncode == 0, again.stderr
    assert (again.summary["rows"], again.summary["partitions"]) == (ROWS, ROWS // ROWS_PER_PARTITION)
    assert again.summary["checksum"] == sample_run.summary["checksum"]


def test_sample_mode_with_another_seed_gives_another_checksum(convert, workdir, sample_run):
    other = convert("--output", str(workdir / "sample_2"), *sample_args(2))
    assert other.returncode == 0, other.stderr
    assert other.summary["checksum"] != sample_run.summary["checksum"]


def test_generated_csv_read_with_sample_schema_matches_sample_mode(convert, workdir, sample_run):
    write_csv(str(workdir / "csv_seed_1"), rows=ROWS, seed=1, files=2, rows_per_partition=ROWS_PER_PARTITION)
    output = workdir / "csv_seed_1_parquet"
    run = convert("--input", str(workdir / "csv_seed_1"), "--output", str(output), "--schema", "sample")
    assert run.returncode == 0, run.stderr
    assert run.summary["checksum"] == sample_run.summary["checksum"]


def test_sample_mode_writes_the_sample_schema(sample_run, workdir):
    assert sample_run.returncode == 0, sample_run.stderr
    written = pd.read_parquet(workdir / "sample_1", dtype_backend="pyarrow")
    assert pa.schema([(name, dtype.pyarrow_dtype) for name, dtype in written.dtypes.items()]).equals(
        csv_to_parquet.SAMPLE_SCHEMA
    )


def test_partition_on_writes_one_hive_folder_per_value(convert, workdir, csv_files):
    output = workdir / "by_country"
    run = convert("--input", csv_files[0], "--output", str(output), "--partition-on", "country")
    assert run.returncode == 0, run.stderr
    countries = set(pd.read_csv(csv_files[0])["country"])
    assert {path.name for path in output.iterdir()} == {f"country={country}" for country in countries}


# -- failures -----------------------------------------------------------------------------------


def test_missing_input_exits_non_zero_naming_the_path(run_job, workdir):
    missing = str(workdir / "no_such_folder" / "*.csv")
    run = run_job("csv_to_parquet.py", "--input", missing, "--output", str(workdir / "out"), cwd=workdir)
    assert run.returncode == 1
    assert run.stdout == ""
    assert f"no CSV files found at --input {missing!r}" in run.stderr


def test_unreachable_scheduler_exits_non_zero_naming_the_address(run_job, workdir):
    address = f"tcp://127.0.0.1:{unused_ports(1)[0]}"
    args = ["--output", str(workdir / "out"), "--scheduler-address", address, "--connect-timeout", "1"]
    run = run_job("csv_to_parquet.py", *args, cwd=workdir)
    assert run.returncode == 1
    assert f"cannot reach the Dask scheduler at {address} within 1 s" in run.stderr


# -- in process ---------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["csv_to_parquet.py", "generate_csv.py"])
def test_job_script_imports_neither_airflow_nor_the_provider(script):
    tree = ast.parse((JOBS / script).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("airflow", "airflow_dask_provider")}


def test_make_partition_depends_only_on_its_arguments():
    first = csv_to_parquet.make_partition(5, 3, 100, first_row=300)
    pd.testing.assert_frame_equal(first, csv_to_parquet.make_partition(5, 3, 100, first_row=300))
    assert not first.equals(csv_to_parquet.make_partition(5, 4, 100, first_row=300))
    assert list(first["event_id"]) == list(range(300, 400))


def test_sample_partitions_cover_the_rows_in_order():
    assert csv_to_parquet.sample_partitions(12, 5) == [(0, 5), (5, 5), (10, 2)]


def test_empty_input_means_sample_data():
    assert csv_to_parquet.parse_args(["--input=", "--output", "out"]).input is None


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        ("tcp://flag:1", {"DASK_SCHEDULER_ADDRESS": "tcp://env:2"}, "tcp://flag:1"),
        (None, {"DASK_SCHEDULER_ADDRESS": "tcp://env:2"}, "tcp://env:2"),
        (None, {}, "tcp://localhost:8786"),
    ],
)
def test_scheduler_address_prefers_flag_then_environment(flag, environ, expected):
    assert csv_to_parquet.dask_job.scheduler_address(flag, environ) == expected


def test_output_folder_holding_the_input_is_refused(tmp_path):
    with pytest.raises(csv_to_parquet.dask_job.JobFailure, match="which overwriting the output would delete"):
        csv_to_parquet.dask_job.check_output_apart(str(tmp_path), [str(tmp_path / "in" / "a.csv")])
