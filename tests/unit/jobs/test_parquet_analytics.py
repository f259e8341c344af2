"""jobs/parquet_analytics.py: filters, exact integer sums and the top-users merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from airflow_dask_provider.jobs import dask_job
from airflow_dask_provider.jobs import parquet_analytics as job


def test_filters_name_the_partition_column_and_the_pushed_down_predicates():
    filters = job.build_filters(["US", "DE"], pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01"), 5.0)

    assert filters == [
        ("country", "in", ["US", "DE"]),
        ("ts", ">=", pd.Timestamp("2024-03-01")),
        ("ts", "<", pd.Timestamp("2024-04-01")),
        ("amount", ">=", 5.0),
    ]


def test_no_options_means_no_filters():
    assert job.build_filters([], None, None, None) is None


def three_events() -> pd.DataFrame:
    """Three events of one country over two months, amounts with two decimals."""
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-02-01"]),
            "user_id": [1, 2, 1],
            "amount": [0.1, 0.2, 0.3],
            "quantity": [3, 1, 2],
            "country": ["US", "US", "US"],
        }
    )


def test_amounts_are_summed_in_exact_cents():
    frame = three_events()

    report = job.finish_by_country_month(job.country_month_sums(job.prepare(frame)))

    assert report.to_dict("list") == {
        "country": ["US", "US"],
        "month": [202401, 202402],
        "orders": [2, 1],
        "items": [4, 2],
        "revenue": [0.5, 0.6],
        "avg_amount": [0.15, 0.3],
        "max_amount": [0.2, 0.3],
    }


def test_top_of_partition_tops_is_the_top_of_all_with_ties_by_user_id():
    sums = pd.DataFrame({"user_id": [5, 3, 9, 1, 7], "orders": [1, 1, 1, 1, 1], "revenue_cents": [10, 30, 30, 20, 30]})
    parts = [job.rank_users(sums.iloc[:2], 3), job.rank_users(sums.iloc[2:], 3)]

    merged = job.top_users(pd.concat(parts), 3)

    assert merged["user_id"].tolist() == [3, 7, 9]
    assert merged.equals(job.top_users(sums, 3))


def test_months_are_counted_in_each_timestamps_own_calendar():
    stamps = ["1969-12-31 23:59:59", "1970-01-01", "2024-02-29 23:59:59.999999", "1900-03-01", "2099-12-31"]
    naive = pd.Series(pd.to_datetime(stamps, format="ISO8601"))
    expected = [196912, 197001, 202402, 190003, 209912]

    for ts in (
        naive,
        naive.astype(pd.ArrowDtype(pa.timestamp("us"))),
        naive.dt.tz_localize("Asia/Tokyo"),  # Tokyo's wall clock, not UTC's (which is a day earlier)
        naive.dt.tz_localize("Asia/Tokyo").astype(pd.ArrowDtype(pa.timestamp("us", "Asia/Tokyo"))),
    ):
        index, months = job.month_index(ts)
        assert months[index].tolist() == expected, ts.dtype
        assert months.tolist() == sorted(months) and len(months) == (2099 - 1900) * 12 + 10, ts.dtype


def test_an_event_without_a_timestamp_is_refused():
    with pytest.raises(ValueError, match="1 event"):
        job.month_index(pd.Series([pd.NaT, pd.Timestamp("2024-01-01")]))


@pytest.mark.parametrize("column", ["user_id", "amount", "quantity", "country"])
@pytest.mark.parametrize("backend", ["numpy", "pyarrow"])
def test_an_event_without_a_value_the_sums_need_is_refused_naming_the_column(column, backend):
    frame = three_events()
    frame[column] = frame[column].astype(object).where(frame.index != 1, None)
    frame = frame.convert_dtypes(dtype_backend=backend) if backend == "pyarrow" else frame.infer_objects()

    with pytest.raises(ValueError, match=f"^1 event\\(s\\) have no {column}$"):
        job.partial_sums(frame)


def test_an_empty_partition_has_no_sums():
    frame = pd.DataFrame(
        {"ts": pd.to_datetime([]), "user_id": [], "amount": [], "quantity": [], "country": pd.Categorical([], ["US"])}
    )

    by_month, by_user = job.partial_sums(frame.astype({"user_id": "int64", "quantity": "int64", "amount": "float64"}))

    assert len(by_month) == len(by_user) == 0
    assert job.finish_by_country_month(by_month).columns.tolist() == job.BY_COUNTRY_MONTH


def test_partial_sums_combined_level_by_level_equal_the_sums_of_the_whole():
    import dask

    rng = np.random.default_rng(3)
    rows = 3_000
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86_400, rows), unit="s"),
            "user_id": rng.integers(1, 200, rows),
            "amount": rng.integers(1, 10_000, rows) / 100,
            "quantity": rng.integers(1, 5, rows),
            "country": rng.choice(["US", "DE", "JP"], rows),
        }
    )
    partial = dask.delayed(job.partial_sums, pure=True)
    parts = [partial(frame.iloc[start : start + 250]) for start in range(0, rows, 250)]  # 12 parts: 3 levels of 2

    combine = dask.delayed(job.combine_partials, pure=True)
    by_month, by_user = dask.compute(dask_job.tree_reduce(parts, combine, fan_in=2), scheduler="sync")[0]

    whole = job.prepare(frame)
    assert job.finish_by_country_month(by_month).equals(job.finish_by_country_month(job.country_month_sums(whole)))
    assert job.top_users(by_user, 50).equals(job.top_users(job.user_sums(whole), 50))
    assert by_month["orders"].sum() == rows

    # The job's leaves hold each partition's sums in a one-element Series; combining unwraps them.
    for leaves in ([frame], [frame.iloc[:1000], frame.iloc[1000:]]):
        months, users = job.combine_partials([job.partition_sums(part) for part in leaves])
        assert job.finish_by_country_month(months).equals(job.finish_by_country_month(by_month))
        assert job.top_users(users, 50).equals(job.top_users(by_user, 50))


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """A small events dataset, ``country=XX/part-N.parquet``, with files that are not its data beside them."""
    from airflow_dask_provider.jobs import generate

    folder = tmp_path_factory.mktemp("events")
    generate.write_events(str(folder), rows=40_000, seed=5, rows_per_file=10_000)
    (folder / "_SUCCESS").touch()
    (folder / "country=US" / "notes.txt").write_text("not Parquet")
    return folder


def test_the_files_read_are_the_parquet_files_of_the_chosen_countries(events):
    per_country = {path.name: len(list(path.glob("*.parquet"))) for path in events.glob("country=*")}

    assert job.files_read(str(events), []) == sum(per_country.values()) == 4 * len(per_country)
    assert job.files_read(str(events), ["US", "DE"]) == per_country["country=US"] + per_country["country=DE"]
    assert job.files_read(str(events), ["XX"]) == 0


@pytest.mark.parametrize("blocksize", ["32MiB", "64KiB", "1KiB"])
def test_small_files_are_read_several_to_a_partition_and_every_row_once(events, blocksize):
    whole = pd.concat(
        pd.read_parquet(path).assign(country=path.parent.name.removeprefix("country="))
        for path in sorted(events.glob("country=*/*.parquet"))
    )
    read = job.read_events(str(events), None, blocksize)
    files = job.files_read(str(events), [])

    if blocksize == "32MiB":
        assert read.npartitions == 1
    elif blocksize == "64KiB":
        assert 1 < read.npartitions < files
    else:
        assert read.npartitions >= files  # a file is split by its row groups, never merged
    frame = read.compute(scheduler="sync")
    assert len(frame) == len(whole)
    assert dask_job.frame_checksum(frame[["user_id", "amount"]]) == dask_job.frame_checksum(
        whole[["user_id", "amount"]]
    )
    assert frame.groupby("country", observed=True).size().to_dict() == whole.groupby("country").size().to_dict()


@pytest.mark.parametrize("make", ["missing", "empty", "only_other_files"])
def test_an_input_without_parquet_files_is_refused_naming_it(tmp_path, make):
    folder = tmp_path / "events"
    if make != "missing":
        folder.mkdir()
    if make == "only_other_files":
        (folder / "notes.txt").write_text("x")
        (folder / "_SUCCESS").touch()

    with pytest.raises(
        dask_job.JobFailure, match=rf"no Parquet files \(\.parquet, \.parq, \.pq\) in --input '{folder}'"
    ):
        job.files_read(str(folder), ["US"])
