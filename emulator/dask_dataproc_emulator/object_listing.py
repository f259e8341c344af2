"""One page of an ``objects.list``: prefix, delimiter, offsets, ``matchGlob`` and paging, as the JSON API does them.

Objects and ``prefixes`` are one listing in name order, and ``maxResults`` counts both (the API's
"maximum combined number of entries"). The page token is opaque, names the position after the page's
last entry and is bound to its query (:func:`dask_dataproc_emulator.paging.page`), so a token
replayed with another prefix or glob is refused with 400.

``matchGlob`` syntax: ``*`` is any run of characters but ``/``; ``**`` any run, ``/`` included, and
``**/`` also matches no folder at all (``**/*.csv`` matches ``a.csv`` and ``x/y/a.csv``); ``?`` one
character but ``/``; ``[abc]``, ``[a-z]``, ``[!abc]`` a class; ``{csv,json}`` alternatives; ``\\``
escapes the next character.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from dask_dataproc_emulator.errors import InvalidArgumentError
from dask_dataproc_emulator.paging import page

#: Entries in a page when the request gives no ``maxResults``, and the most it may ask for.
DEFAULT_MAX_RESULTS = 1000


class GlobError(ValueError):
    """A ``matchGlob`` pattern that cannot be parsed."""


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Return the regular expression of a ``matchGlob`` pattern (to ``fullmatch`` whole names).

    :raises GlobError: an unclosed ``[`` or ``{``, or a trailing ``\\``.
    """
    regex, _ = _translate(pattern, 0, in_braces=False)  # outside braces, ',' and '}' are plain characters
    return re.compile(regex, re.DOTALL)


def _translate(pattern: str, index: int, *, in_braces: bool) -> tuple[str, int]:
    """Translate from ``index`` up to the end (or, in braces, a top-level ``,`` or ``}``)."""
    out: list[str] = []
    size = len(pattern)
    while index < size:
        char = pattern[index]
        if in_braces and char in ",}":
            break
        if char == "\\":
            if index + 1 == size:
                raise GlobError("a trailing '\\' escapes nothing")
            out.append(re.escape(pattern[index + 1]))
            index += 2
        elif pattern.startswith("**", index):
            end = index
            while end < size and pattern[end] == "*":
                end += 1
            whole_segment = (index == 0 or pattern[index - 1] == "/") and pattern[end : end + 1] == "/"
            out.append("(?:.*/)?" if whole_segment else ".*")
            index = end + 1 if whole_segment else end
        elif char == "*":
            out.append("[^/]*")
            index += 1
        elif char == "?":
            out.append("[^/]")
            index += 1
        elif char == "[":
            regex, index = _char_class(pattern, index)
            out.append(regex)
        elif char == "{":
            alternatives = []
            index += 1
            while True:
                regex, index = _translate(pattern, index, in_braces=True)
                alternatives.append(regex)
                if index >= size:
                    raise GlobError("'{' is never closed")
                index += 1
                if pattern[index - 1] == "}":
                    break
            out.append("(?:" + "|".join(alternatives) + ")")
        else:
            out.append(re.escape(char))
            index += 1
    return "".join(out), index


def _char_class(pattern: str, index: int) -> tuple[str, int]:
    """Translate ``[...]`` starting at ``index``; return its regex and the index after ``]``."""
    start = index + 1
    negate = pattern[start : start + 1] in ("!", "^")
    body_start = start + 1 if negate else start
    close = pattern.find("]", body_start + 1)  # a ']' right after '[' or '[!' is a member
    if close < 0:
        raise GlobError(f"'[' at position {index} is never closed")
    members = pattern[body_start:close].replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
    members = members.replace("]", "\\]")
    return (f"[^/{members}]" if negate else f"[{members}]"), close + 1


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """What an ``objects.list`` asks for (every parameter but paging)."""

    prefix: str = ""
    delimiter: str = ""
    start_offset: str = ""
    end_offset: str = ""
    match_glob: str = ""

    def key(self, bucket: str) -> str:
        """Return what binds a page token to this listing."""
        return "\0".join((bucket, *dataclasses.astuple(self)))


@dataclasses.dataclass(frozen=True)
class ListPage:
    """One page: object names and prefixes (each sorted), and the next page's token ("" after the last)."""

    names: list[str]
    prefixes: list[str]
    next_page_token: str


def list_page(bucket: str, names: Iterable[str], query: ListQuery, *, max_results: int, page_token: str) -> ListPage:
    """Return one page of a listing of ``names`` (every object name of the bucket that starts with the prefix).

    :raises GlobError: the query's ``matchGlob`` cannot be parsed.
    :raises ValueError: ``page_token`` was not returned by this listing (same bucket and query).
    """
    glob = glob_regex(query.match_glob) if query.match_glob else None
    entries: dict[str, bool] = {}  # name -> is a prefix
    for name in names:
        if not name.startswith(query.prefix):
            continue
        if (query.start_offset and name < query.start_offset) or (query.end_offset and name >= query.end_offset):
            continue
        if glob is not None and not glob.fullmatch(name):
            continue
        rest = name[len(query.prefix) :]
        if query.delimiter and query.delimiter in rest:
            entries[query.prefix + rest[: rest.index(query.delimiter) + len(query.delimiter)]] = True
        else:
            entries[name] = False
    try:
        chunk, token = page(
            list(entries),
            key=lambda entry: entry,
            page_size=max_results,
            page_token=page_token,
            query=query.key(bucket),
            default_size=DEFAULT_MAX_RESULTS,
        )
    except InvalidArgumentError as err:
        raise ValueError(err.message) from None
    return ListPage(
        names=[entry for entry in chunk if not entries[entry]],
        prefixes=[entry for entry in chunk if entries[entry]],
        next_page_token=token,
    )
