"""``benchmarks/vs_spark.py`` checks what Spark wrote by the reference's checksum, in the reference's column types.

The benchmark itself needs PySpark and Java (``make benchmark-spark`` installs them into .venv-spark), which
the test environment does not have; its check of a converted CSV does not, and is tested here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vs_spark():
    spec = importlib.util.spec_from_file_location("bench_vs_spark", REPO / "benchmarks" / "vs_spark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def converted(tmp_path, vs_spark):
    """A CSV of events converted by the single-process reference: the files Spark's must hold the same as."""
    source = tmp_path / "csv"
    source.mkdir()
    (source / "part-0.csv").write_text(
        "event_id,ts,user_id,country,amount,quantity\n0,2024-11-07 07:52:59,40917,GB,18.76,1\n"
        "1,2024-08-21 03:04:17,6647,US,15.22,3\n"
    )
    vs_spark.reference.csv_to_parquet(source, tmp_path / "reference")
    return tmp_path


def _write_as_spark(folder: Path, micros: list[int]) -> None:
    """Write the events as Spark does: timestamps in microseconds, no pandas metadata, a file per row."""
    folder.mkdir()
    for number, stamp in enumerate(micros):
        table = pa.table({
            "event_id": pa.array([number], pa.int64()), "ts": pa.array([stamp], pa.timestamp("us")),
            "user_id": pa.array([[40917, 6647][number]], pa.int64()), "country": [["GB", "US"][number]],
            "amount": [[18.76, 15.22][number]], "quantity": pa.array([[1, 3][number]], pa.int64()),
        })  # fmt: skip
        pq.write_table(table, folder / f"part-{number}.snappy.parquet")


def _micros(text: str) -> int:
    return pd.Timestamp(text).value // 1000


def test_spark_files_in_microseconds_give_the_reference_checksum(converted, vs_spark):
    _write_as_spark(converted / "spark", [_micros("2024-11-07 07:52:59"), _micros("2024-08-21 03:04:17")])
    schema = vs_spark.REFERENCE_CSV_SCHEMA

    assert vs_spark.checksum_as(converted / "spark", schema) == vs_spark.reference.written_checksum(
        converted / "reference"
    )


def test_a_timestamp_off_by_a_second_changes_the_checksum(converted, vs_spark):
    _write_as_spark(converted / "spark", [_micros("2024-11-07 07:53:00"), _micros("2024-08-21 03:04:17")])

    assert vs_spark.checksum_as(converted / "spark", vs_spark.REFERENCE_CSV_SCHEMA) != (
        vs_spark.reference.written_checksum(converted / "reference")
    )


def test_a_cast_that_would_lose_a_digit_fails(converted, vs_spark):
    _write_as_spark(converted / "spark", [_micros("2024-11-07 07:52:59") + 1, _micros("2024-08-21 03:04:17")])

    with pytest.raises(pa.ArrowInvalid):
        vs_spark.checksum_as(converted / "spark", vs_spark.REFERENCE_CSV_SCHEMA)
