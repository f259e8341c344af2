"""jobs/generate.py: every kind of input is a function of the seed and the size only."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from airflow_dask_provider.jobs import csv_to_parquet, generate

WRITERS = {
    "text": lambda out, seed, processes=1: generate.write_text(
        out, rows=500, seed=seed, rows_per_file=200, processes=processes
    ),
    "features": lambda out, seed, processes=1: generate.write_features(
        out, rows=500, seed=seed, rows_per_file=200, processes=processes
    ),
    "edges": lambda out, seed, processes=1: generate.write_edges(
        out, rows=500, nodes=50, seed=seed, rows_per_file=200, processes=processes
    ),
    "events": lambda out, seed, processes=1: generate.write_events(
        out, rows=500, seed=seed, rows_per_file=200, processes=processes
    ),
    "csv": lambda out, seed, processes=1: generate.write_csv(
        out, rows=500, seed=seed, files=3, rows_per_partition=200, processes=processes
    ),
}


def same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / p, b / p, shallow=False) for p in files_a)


@pytest.mark.parametrize("kind", WRITERS)
def test_same_seed_writes_the_same_bytes_in_one_process_or_two(kind, tmp_path):
    WRITERS[kind](str(tmp_path / "a"), 4)
    WRITERS[kind](str(tmp_path / "b"), 4, processes=2)

    assert same_tree(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("kind", WRITERS)
def test_another_seed_writes_other_data(kind, tmp_path):
    WRITERS[kind](str(tmp_path / "a"), 4)
    WRITERS[kind](str(tmp_path / "b"), 5)

    assert not same_tree(tmp_path / "a", tmp_path / "b")


def test_events_dataset_holds_the_sample_rows_by_country_sorted_by_time(tmp_path):
    generate.write_events(str(tmp_path), rows=1_000, seed=2, rows_per_file=400)

    dataset = pd.read_parquet(tmp_path).astype({"country": str})
    sample = pd.concat(
        [
            csv_to_parquet.make_partition(2, i, n, first)
            for i, (first, n) in enumerate(csv_to_parquet.sample_partitions(1_000, 400))
        ]
    ).astype({"country": str})
    columns = ["event_id", "ts", "user_id", "amount", "quantity", "country"]
    pd.testing.assert_frame_equal(
        dataset[columns].sort_values("event_id", ignore_index=True).astype(sample[columns].dtypes.to_dict()),
        sample[columns].sort_values("event_id", ignore_index=True),
    )
    part = pq.read_table(next((tmp_path / "country=US").glob("*.parquet"))).to_pandas()
    assert "country" not in part.columns and part["ts"].is_monotonic_increasing


def test_features_have_a_row_id_sixteen_float32_features_and_a_binary_label(tmp_path):
    generate.write_features(str(tmp_path), rows=300, seed=1, rows_per_file=100)

    frame = pd.read_parquet(tmp_path)
    assert frame["row_id"].tolist() == list(range(300))
    assert [c for c in frame.columns if c.startswith("f")] == [f"f{i}" for i in range(16)]
    assert set(frame["label"]) == {0, 1}


def test_edges_stay_within_the_nodes(tmp_path):
    generate.write_edges(str(tmp_path), rows=1_000, nodes=30, seed=1, rows_per_file=400)

    frame = pd.read_parquet(tmp_path)
    assert len(frame) == 1_000 and frame.min().min() >= 0 and frame.max().max() < 30


def test_text_lines_are_words_of_the_vocabulary(tmp_path):
    lines = generate.text_lines(1, 0, 50)

    words, _ = generate.vocabulary()
    assert len(lines) == 50
    assert {w.strip(".!?,;").lower() for line in lines for w in line.split()} <= set(words)


def test_command_line_writes_a_kind_and_prints_a_summary(run_job, tmp_path):
    run = run_job("generate.py", "edges", "--output", "out", "--rows", "100", "--nodes", "10", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.summary["kind"] == "edges" and run.summary["files"] == 1
    assert len(pd.read_parquet(tmp_path / "out")) == 100
