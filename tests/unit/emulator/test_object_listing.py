"""matchGlob patterns and one page of an objects.list, without a server."""

from __future__ import annotations

import pytest

from dask_dataproc_emulator.object_listing import GlobError, ListQuery, glob_regex, list_page


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*.csv", "a.csv", True),
        ("*.csv", "dir/a.csv", False),
        ("**/*.csv", "a.csv", True),
        ("**/*.csv", "dir/sub/a.csv", True),
        ("dir/**/a.csv", "dir/a.csv", True),
        ("**.csv", "dir/a.csv", True),
        ("?.txt", "ab.txt", False),
        ("?.txt", "/.txt", False),
        ("[a-c].txt", "b.txt", True),
        ("[!a-c].txt", "d.txt", True),
        ("[!a-c].txt", "b.txt", False),
        ("[]].txt", "].txt", True),
        ("{a,b/c}.txt", "b/c.txt", True),
        ("{a,b}{1,2}", "b2", True),
        ("\\*.txt", "*.txt", True),
        ("\\*.txt", "a.txt", False),
        ("a}.txt", "a}.txt", True),
        ("a+b(c).txt", "a+b(c).txt", True),
    ],
)
def test_glob_matches_whole_names(pattern, name, matches):
    assert bool(glob_regex(pattern).fullmatch(name)) is matches


@pytest.mark.parametrize("pattern", ["[abc", "{a,b", "a\\"])
def test_a_malformed_glob_is_refused(pattern):
    with pytest.raises(GlobError):
        glob_regex(pattern)


def test_max_results_counts_objects_and_prefixes_together():
    names = ["a", "b/1", "b/2", "c", "d/1"]
    query = ListQuery(delimiter="/")

    first = list_page("bucket", names, query, max_results=2, page_token="")
    second = list_page("bucket", names, query, max_results=2, page_token=first.next_page_token)

    assert (first.names, first.prefixes) == (["a"], ["b/"])
    assert (second.names, second.prefixes, second.next_page_token) == (["c"], ["d/"], "")
