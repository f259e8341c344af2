"""jobs/word_count.py: the word rule and the merging of per-partition results."""

from __future__ import annotations

import collections
import re

import pytest

from airflow_dask_provider.jobs import word_count

TEXTS = [
    "The cat, the CAT and the hat.\n",
    "Über naïve café—Straße, don't x_y ÉCOLE 12³ Tränen!\n",
    "tabs\tand  spaces\r\nand--dashes...ok",
    "",
    "   \n\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_counts_equal_pythons_findall_of_letters_and_digits(text):
    counted = word_count.count_words(text.encode())

    assert dict(zip(counted["word"], counted["count"])) == collections.Counter(re.findall(r"[^\W_]+", text.lower()))


def test_invalid_utf8_bytes_separate_words():
    counted = word_count.count_words(b"caf\xff\xfeb\xc3\xa9 ok")

    assert dict(zip(counted["word"], counted["count"])) == {"caf": 1, "bé": 1, "ok": 1}


def test_merge_top_orders_by_count_then_word():
    tops = ['[["b", 3], ["a", 1]]', '[["c", 3], ["d", 2]]']

    assert word_count.merge_top(tops, limit=3) == [["b", 3], ["c", 3], ["d", 2]]
