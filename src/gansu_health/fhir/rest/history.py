"""The _history interactions' parameters, paging and Bundle (the store reads the versions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gansu_health.core.errors import BadRequest
from gansu_health.fhir.rest import views
from gansu_health.fhir.search.engine import decode_cursor, encode_cursor
from gansu_health.fhir.search.values import date_range


@dataclass(frozen=True)
class HistoryQuery:
    """What a history request asks for: page size, ``_since``, order and position."""

    count: int
    since_us: int | None
    ascending: bool  # _sort=_lastUpdated (or none): oldest first, pollable
    cursor: str | None
    position: list[Any] | None

    @classmethod
    def parse(cls, params: list[tuple[str, str]], max_page: int, timezone: str) -> HistoryQuery:
        """Read the history parameters, refusing a ``_since`` that is not an instant."""
        values = dict(params)
        since = values.get("_since")
        since_us = None
        if since:
            rng = date_range(since, timezone)
            if rng is None:
                raise BadRequest(f"_since '{since}' is not an instant", expression="_since")
            since_us = rng[0]
        cursor = values.get("_cursor")
        return cls(min(int(values.get("_count", "50") or 50), max_page), since_us,
                   values.get("_sort") in ("_lastUpdated", "none"), cursor,
                   decode_cursor(cursor) if cursor else None)

    def window(self) -> dict[str, Any]:
        """Keyword arguments of ``ResourceStore.history`` for this page (one row more)."""
        pos = self.position
        return {"since_us": self.since_us, "limit": self.count + 1, "ascending": self.ascending,
                "before_seq": pos[0] if pos and not self.ascending else None,
                "after": (pos[0], pos[1]) if pos and self.ascending else None}


def history_body(base_url: str, rtype: str | None, fid: str | None,
                 params: list[tuple[str, str]], query: HistoryQuery, versions: list[Any]
                 ) -> bytes:
    """The history Bundle of one page, with next and polling cursors."""
    page, more = versions[:query.count], len(versions) > query.count
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor([last.txid, last.seq] if query.ascending else [last.seq])
    path = "/".join(p for p in (rtype, fid, "_history") if p)
    total = len(page) if not more and not query.cursor else None
    poll_cursor = None
    if query.ascending:
        poll_cursor = encode_cursor([page[-1].txid, page[-1].seq]) if page else query.cursor
    return views.history_bundle(base_url, path, params, page, next_cursor, total, poll_cursor)
