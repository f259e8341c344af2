"""Page a list response as Dataproc does: ``page_size`` items at most, and an opaque ``next_page_token``.

The token names the position after the page's last item and the query it belongs to (the list's
parent and filter), so a token replayed with another query is refused, as Dataproc refuses it. Items
are paged in a stable order (their resource names), so a page that follows a create or a delete
skips nothing that existed throughout and repeats nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from dask_dataproc_emulator.errors import InvalidArgumentError

T = TypeVar("T")

#: Items in a page when the request gives no ``page_size`` (Dataproc's own lists use 200 or so).
DEFAULT_PAGE_SIZE = 200
#: The largest page a request may ask for; a larger ``page_size`` is lowered to it.
MAX_PAGE_SIZE = 1000


def page(
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    page_size: int,
    page_token: str,
    query: str,
    default_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[list[T], str]:
    """Return one page of ``items`` in ``key`` order and the token of the next page ("" after the last).

    :param items: every match of the query, in any order.
    :param key: an item's unique sort key (its resource name).
    :param page_size: the request's ``page_size``; 0 means ``default_size``; negative is refused.
    :param page_token: the request's ``page_token``: "" for the first page, else a token this returned.
    :param query: what identifies the list (parent and filter): a token only fits its own query.
    """
    if page_size < 0:
        raise InvalidArgumentError(f"page_size must not be negative, got {page_size}")
    size = min(page_size or default_size, MAX_PAGE_SIZE)
    after = _read_token(page_token, query) if page_token else None
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    chunk = ordered[:size]
    more = len(ordered) > size
    return chunk, (_token(key(chunk[-1]), query) if more else "")


def _digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def _token(after: str, query: str) -> str:
    raw = json.dumps({"after": after, "query": _digest(query)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: str, query: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after, digest = data["after"], data["query"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgumentError(f"page_token {token!r} is not a token this list returned") from None
    if digest != _digest(query):
        raise InvalidArgumentError(
            f"page_token {token!r} belongs to another query: a page token only continues the list "
            "(same parent and filter) that returned it"
        )
    return after
