"""Gansu's GB/T 2260 administrative divisions: the province, its 14 prefectures and counties."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

PROVINCE_CODE = "620000"
PROVINCE_NAME = "甘肃省"


@dataclass(frozen=True, slots=True)
class County:
    """A county-level division (district, county, county-level city)."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class MunicipalRegion:
    """A prefecture-level city or autonomous prefecture with its own municipal data centre."""

    code: str
    name: str
    short_name: str
    kind: str
    population_10k: int
    area_code: str
    counties: tuple[County, ...]


def _load() -> dict[str, Any]:
    text = resources.files("gansu_health.demo").joinpath("data/regions.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def municipal_regions() -> tuple[MunicipalRegion, ...]:
    """Return the 14 prefecture-level divisions of Gansu in code order."""
    return tuple(
        MunicipalRegion(
            code=item["code"],
            name=item["name"],
            short_name=item["short"],
            kind=item["kind"],
            population_10k=item["population_10k"],
            area_code=item["area_code"],
            counties=tuple(County(code, name) for code, name in item["counties"]),
        )
        for item in _load()["municipal"]
    )


@cache
def gansu_region_codes(*, include_historical: bool = False) -> dict[str, str]:
    """Return GB/T 2260 code → name for the province, prefectures and counties."""
    table = {PROVINCE_CODE: PROVINCE_NAME}
    for region in municipal_regions():
        table[region.code] = region.name
        table.update((county.code, county.name) for county in region.counties)
    if include_historical:
        table.update((code, name) for code, name, _ in _load()["historical"])
    return table


def is_gansu_region(code: str) -> bool:
    """Tell whether ``code`` is a current or retired Gansu division (usable as a region table)."""
    return code in gansu_region_codes(include_historical=True)


def region_of(county_code: str) -> MunicipalRegion:
    """Return the prefecture-level division containing a county code."""
    for region in municipal_regions():
        if region.code[:4] == county_code[:4]:
            return region
    raise KeyError(county_code)
