"""Search parameters that are not lookups in one index table: ``near``, ``_text``, ``_content``."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select, union
from sqlalchemy.dialects.postgresql import JSONB

from gansu_health.core.errors import BadRequest
from gansu_health.fhir.search.params import Criterion, split_escaped, unescape
from gansu_health.fhir.search.terminology import current_connection
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource, resource_version

TEXT_SEARCH = {"_text", "_content"}
KM_PER_DEGREE = 111.32
DEFAULT_NEAR_KM = 5.0
KM_PER_UNIT = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344}


def like_escape(text: str) -> str:
    """Escape LIKE wildcards (the escape character is a backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def as_text(column: Any, sqlite: bool) -> Any:
    """Return a binary JSON column as text (for LIKE), on SQLite or PostgreSQL."""
    return cast(column, String) if sqlite else func.convert_from(column, "UTF8")


def text_rids(rtype: str, code: str, crit: Criterion) -> Any:
    """``_content`` (the whole resource) and ``_text`` (its narrative) by substring.

    These scan the stored JSON of the type's current versions: correct, not indexed.
    """
    conn = current_connection.get()
    rv, cur = resource_version.alias(), resource.alias()
    sqlite = conn is None or conn.dialect.name == "sqlite"
    body = as_text(rv.c.content, sqlite)
    if code == "_text":
        body = func.json_extract(body, "$.text.div") if sqlite else \
            cast(body, JSONB)["text"]["div"].astext
    terms = [unescape(v) for v in crit.values]
    found = [body.ilike(f"%{like_escape(t)}%", escape="\\") for t in terms]
    return (select(rv.c.rid)
            .join(cur, and_(cur.c.rid == rv.c.rid, cur.c.version == rv.c.version))
            .where(cur.c.rtype == rtype, cur.c.deleted.is_(False), or_(*found)))

def near_rids(rtype: str, code: str, crit: Criterion) -> Any:
    """Positions within a distance, as a latitude/longitude box (as HAPI FHIR does)."""
    selects = []
    for raw in crit.values:
        parts = split_escaped(raw, "|")
        try:
            lat, lon = float(parts[0]), float(parts[1])
            distance = float(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_NEAR_KM
        except (ValueError, IndexError) as exc:
            raise BadRequest(f"{crit.name} must be latitude|longitude|distance|units, not "
                             f"'{raw}'", expression=crit.name) from exc
        unit = parts[3] if len(parts) > 3 and parts[3] else "km"
        if unit not in KM_PER_UNIT:
            raise BadRequest(f"{crit.name}: unit '{unit}' is not one of "
                             f"{sorted(KM_PER_UNIT)}", expression=crit.name)
        km = distance * KM_PER_UNIT[unit]
        dlat = km / KM_PER_DEGREE
        dlon = km / (KM_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        a, b = INDEX_TABLES["number"].alias(), INDEX_TABLES["number"].alias()
        selects.append(select(a.c.rid).join(b, and_(b.c.rid == a.c.rid, b.c.grp == a.c.grp))
                       .where(a.c.rtype == rtype, a.c.param == f"{code}$lat",
                              a.c.value.between(lat - dlat, lat + dlat),
                              b.c.param == f"{code}$lon",
                              b.c.value.between(lon - dlon, lon + dlon)))
    return selects[0] if len(selects) == 1 else union(*selects)
