"""The booking-rush benchmark at a tiny size: a real server, real HTTP, every invariant."""

from __future__ import annotations

from pathlib import Path

from gansu_health.devtools.bench_booking import run


def test_tiny_rush_on_sqlite_holds_every_invariant(tmp_path: Path) -> None:
    result = run(patients_n=40, numbers=10, clients=12, doctors=2,
                 database=f"sqlite:///{tmp_path / 'rush.db'}", double_click=0.3,
                 echo=lambda *_: None, margin_s=25)  # room for a loaded machine
    assert result["booked"] == 10 and result["all_taken_s"] is not None
    assert result["overbooked"] == result["duplicates"] == result["unmatched"] == 0
    assert result["silent_refusals"] == 0 and not result["errors"]
    assert set(result["refusals"]) <= {"409 doctor full", "422 per-person limit",
                                        "409 last numbers in flight"}
