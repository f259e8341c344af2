"""jobs/parquet_analytics.py: filters, exact integer sums and the top-users merge."""

from __future__ import annotations

import pandas as pd

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


def test_amounts_are_summed_in_exact_cents():
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-02-01"]),
            "user_id": [1, 2, 1],
            "amount": [0.1, 0.2, 0.3],
            "quantity": [3, 1, 2],
            "country": ["US", "US", "US"],
        }
    )

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
