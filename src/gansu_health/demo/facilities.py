"""The demo's health institutions per region, expanded from data/hospitals.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from gansu_health.demo.regions import gansu_region_codes, municipal_regions

PRIMARY_TYPES = frozenset({"chc", "thc", "village"})


@dataclass(frozen=True, slots=True)
class FacilitySpec:
    """One institution: stable id, name, level and type codes, county and alliance parent."""

    id: str
    name: str
    level: str
    type: str
    region: str
    county: str
    part_of: str | None = None

    @property
    def tier(self) -> str:
        """Return "tertiary", "secondary", "primary" or "village"."""
        if self.type == "village":
            return "village"
        if self.type in PRIMARY_TYPES:
            return "primary"
        return "tertiary" if self.level.startswith("3") else "secondary"

    @property
    def department_kind(self) -> str:
        """Return the key of the department template in codes.DEPARTMENTS_BY_KIND."""
        if self.tier in ("primary", "village"):
            return self.tier
        kind = self.type if self.type in ("tcm", "mch", "ethnic") else "general"
        if self.tier == "secondary" and kind == "mch":
            kind = "general"
        if self.tier == "tertiary" and kind == "ethnic":
            kind = "tcm"
        return f"{self.tier}-{kind}"


@dataclass(frozen=True, slots=True)
class RegionFacilities:
    """The institutions of one municipal region in dependency order (parents first)."""

    region: str
    facilities: tuple[FacilitySpec, ...] = field(default_factory=tuple)


@cache
def _hospital_table() -> dict[str, Any]:
    text = resources.files("gansu_health.demo").joinpath("data/hospitals.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def region_facilities() -> tuple[RegionFacilities, ...]:
    """Return each region's city hospitals, county alliance and community centre."""
    table = _hospital_table()
    result = []
    for region in municipal_regions():
        spec = table[region.code]
        prefix = f"gs-{region.code}"
        items = [
            FacilitySpec(
                f"{prefix}-h{n:02d}", h["name"], h["level"], h["type"], region.code, h["county"]
            )
            for n, h in enumerate(spec["hospitals"], start=1)
        ]
        alliance = spec["alliance"]
        county = alliance["county"]
        county_label = gansu_region_codes()[county].replace("市辖区", "")
        lead = f"{prefix}-c01"
        tcm_name = alliance.get("tcm") or f"{county_label}中医医院"
        tcm_type = "ethnic" if "藏医" in tcm_name else "tcm"
        items += [
            FacilitySpec(
                lead,
                alliance.get("hospital") or f"{county_label}人民医院",
                "2A",
                "general",
                region.code,
                county,
            ),
            FacilitySpec(f"{prefix}-c02", tcm_name, "2B", tcm_type, region.code, county),
            FacilitySpec(
                f"{prefix}-t01",
                f"{county_label}{alliance['township']}卫生院",
                "1",
                "thc",
                region.code,
                county,
                part_of=lead,
            ),
            FacilitySpec(
                f"{prefix}-v01",
                f"{alliance['township']}{alliance['village']}卫生室",
                "U",
                "village",
                region.code,
                county,
                part_of=f"{prefix}-t01",
            ),
        ]
        community = spec["community"]
        district = gansu_region_codes()[community["county"]]
        district = "" if district == "市辖区" else district
        items.append(
            FacilitySpec(
                f"{prefix}-s01",
                f"{region.name}{district}{community['street']}社区卫生服务中心",
                "1",
                "chc",
                region.code,
                community["county"],
                part_of=f"{prefix}-h01",
            )
        )
        result.append(RegionFacilities(region.code, tuple(items)))
    return tuple(result)
