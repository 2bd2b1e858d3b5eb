"""The CodeSystems and ValueSets the platform ships, and loading them into the repository."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import orjson

from gansu_health.core.database import write_transaction
from gansu_health.core.errors import Gone, NotFound
from gansu_health.registry.terminology.model import CodeSystemIndex, Json


@cache
def shipped_resources() -> tuple[Json, ...]:
    """Return the shipped CodeSystems, then ValueSets (parsed once; do not mutate them)."""
    folder = resources.files("gansu_health.registry").joinpath("data")
    found = [orjson.loads(f.read_bytes()) for f in folder.iterdir()
             if f.name.endswith(".json")]
    return tuple(sorted(found, key=lambda r: (r["resourceType"] != "CodeSystem", r["id"])))


@cache
def shipped_code_systems() -> dict[str, CodeSystemIndex]:
    """Return the shipped CodeSystems compiled, by URL."""
    return {r["url"]: CodeSystemIndex(r) for r in shipped_resources()
            if r["resourceType"] == "CodeSystem"}


def _without_meta(body: Json) -> Json:
    return {k: v for k, v in body.items() if k != "meta"}


def load_terminology(api: Any) -> int:
    """PUT every shipped CodeSystem/ValueSet under its stable id; return how many changed."""
    written = 0
    with write_transaction(api.engine) as conn:
        for res in shipped_resources():
            rtype, fid = res["resourceType"], res["id"]
            try:
                current: Json | None = api.service.read(conn, rtype, fid).json()
            except (NotFound, Gone):
                current = None
            if current is not None and _without_meta(current) == res:
                continue
            api.service.update(conn, rtype, fid, copy.deepcopy(res))
            written += 1
    return written
