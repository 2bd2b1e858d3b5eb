"""The MPI benchmark command on a small synthetic set, without Splink."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gansu_health.devtools.bench_mpi import bench_mpi_app


def test_bench_mpi_synthetic_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_mpi_app,
        ["--datasets", "synthetic_cn", "--persons", "300", "--no-splink", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "synthetic_cn" in result.output
    [path] = list(tmp_path.glob("mpi-*.json"))
    report = json.loads(path.read_text("utf-8"))
    engine = report["synthetic_cn"]["engine"]
    assert engine["pair_completeness"] > 0.98 and engine["pairwise"]["f1"] > 0.9
    assert "splink" not in report["synthetic_cn"]


def test_missing_historical_file_is_skipped(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("GANSU_HEALTH_SHARED_DATA", str(tmp_path / "none"))
    result = CliRunner().invoke(
        bench_mpi_app, ["--datasets", "historical_50k", "--no-splink", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
