"""The emulator's list paging: every item once, in order, and tokens that only continue their own query."""

from __future__ import annotations

import pytest

from dask_dataproc_emulator.errors import InvalidArgumentError
from dask_dataproc_emulator.paging import MAX_PAGE_SIZE, page

NAMES = [f"c{i:03d}" for i in range(7)]


def pages(items, size, query="q"):
    token, seen = "", []
    while True:
        chunk, token = page(items, key=str, page_size=size, page_token=token, query=query)
        seen.append(chunk)
        if not token:
            return seen


def test_pages_hold_every_item_once_in_name_order():
    assert pages(list(reversed(NAMES)), 3) == [NAMES[:3], NAMES[3:6], NAMES[6:]]


def test_no_page_size_means_one_page_of_the_default_size():
    chunk, token = page(NAMES, key=str, page_size=0, page_token="", query="q", default_size=5)
    assert (chunk, bool(token)) == (NAMES[:5], True)


def test_an_exact_fit_has_no_next_token_and_an_empty_list_one_empty_page():
    assert pages(NAMES, 7) == [NAMES]
    assert pages([], 3) == [[]]


def test_a_deleted_item_does_not_shift_the_next_page():
    first, token = page(NAMES, key=str, page_size=3, page_token="", query="q")
    rest = [name for name in NAMES if name != "c001"]
    second, _ = page(rest, key=str, page_size=3, page_token=token, query="q")
    assert first == NAMES[:3] and second == NAMES[3:6]


def test_a_huge_page_size_is_lowered_to_the_maximum():
    items = [f"n{i:05d}" for i in range(MAX_PAGE_SIZE + 1)]
    chunk, token = page(items, key=str, page_size=10**6, page_token="", query="q")
    assert len(chunk) == MAX_PAGE_SIZE and token


@pytest.mark.parametrize(
    ("size", "token", "query", "words"),
    [
        (-1, "", "q", "page_size must not be negative, got -1"),
        (3, "garbage!", "q", "page_token 'garbage!' is not a token this list returned"),
        (3, None, "other", "belongs to another query"),
    ],
)
def test_bad_paging_fields_are_refused_naming_the_field(size, token, query, words):
    if token is None:
        _, token = page(NAMES, key=str, page_size=3, page_token="", query="q")
    with pytest.raises(InvalidArgumentError, match=words.replace("(", r"\(")):
        page(NAMES, key=str, page_size=size, page_token=token, query=query)
