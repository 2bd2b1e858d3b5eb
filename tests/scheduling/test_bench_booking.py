"""The booking-rush benchmark at a tiny size: a real server, real HTTP, every invariant."""

from __future__ import annotations

from pathlib import Path

from gansu_health.devtools.bench_booking import run
from gansu_health.devtools.pgcluster import PostgresCluster


def test_tiny_rush_on_sqlite_holds_every_invariant(tmp_path: Path) -> None:
    result = run(patients_n=40, numbers=10, clients=12, doctors=2,
                 database=f"sqlite:///{tmp_path / 'rush.db'}", double_click=0.3,
                 echo=lambda *_: None, margin_s=25)  # room for a loaded machine
    assert result["booked"] == 10 and result["all_taken_s"] is not None
    assert result["overbooked"] == result["duplicates"] == result["unmatched"] == 0
    assert result["silent_refusals"] == 0 and not result["errors"]
    assert set(result["refusals"]) <= {"409 doctor full", "422 per-person limit",
                                        "409 last numbers in flight"}


def test_tiny_rush_on_postgresql_goes_through_the_booking_engine(pg_cluster: PostgresCluster
                                                                 ) -> None:
    result = run(patients_n=60, numbers=12, clients=16, doctors=3,
                 database=pg_cluster.create_database("tiny_rush"), workers=2, double_click=0.3,
                 echo=lambda *_: None, margin_s=30)
    assert result["booking_engine"] is True  # serve started it; the workers booked through it
    assert result["booked"] == 12 and result["all_taken_s"] is not None
    assert result["overbooked"] == result["duplicates"] == result["unmatched"] == 0
    assert result["silent_refusals"] == 0 and not result["errors"]
