"""`gansu-health bench mpi`: the MPI matching engine beside Splink on FEBRL, historical_50k, CN."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gansu_health.devtools import bench_mpi_data as data
from gansu_health.devtools.bench_mpi_splink import run_splink, splink_available
from gansu_health.mpi.engine import Matcher, candidate_pairs, clusters, pair_metrics, train_em
from gansu_health.mpi.engine.linkage import (
    PairMetrics,
    cluster_pairs,
    grade_report,
    reduction_ratio,
    true_pairs,
)

bench_mpi_app = typer.Typer(help="MPI matching benchmark.", no_args_is_help=False)
RESULTS_DIR = Path("bench/results")
DATASETS = ("febrl4", "febrl3", "historical_50k", "synthetic_cn")


def _metrics(m: PairMetrics) -> dict[str, Any]:
    return asdict(m)


def run_engine(dataset: data.Dataset, threshold: float = 0.5) -> dict[str, Any]:
    """Block, train by EM (the shipped model for the synthetic set), score and evaluate."""
    truth = true_pairs(dataset.entities, dataset.sources)
    started = time.perf_counter()
    candidates = candidate_pairs(dataset.records, sources=dataset.sources)
    blocked = time.perf_counter()
    if dataset.name == "synthetic_cn":
        matcher = Matcher.default()
    else:
        model = train_em(
            dataset.records,
            candidates,
            sources=dataset.sources,
            total_pairs=dataset.total_pairs,
            version=f"bench-{dataset.name}",
        )
        matcher = Matcher(model)
    trained = time.perf_counter()
    records = dataset.records
    scores = {p: matcher.compare(records[p[0]], records[p[1]]).score for p in candidates}
    scored = time.perf_counter()
    predicted = {p for p, s in scores.items() if s >= threshold}
    result: dict[str, Any] = {
        "records": len(records),
        "true_pairs": len(truth),
        "candidates": len(candidates),
        "pair_completeness": len(candidates & truth) / len(truth) if truth else 1.0,
        "reduction_ratio": reduction_ratio(len(candidates), dataset.total_pairs),
        "pairwise": _metrics(pair_metrics(predicted, truth)),
        "block_seconds": blocked - started,
        "train_seconds": trained - blocked,
        "score_seconds": scored - trained,
        "us_per_pair": (scored - trained) / max(len(candidates), 1) * 1e6,
        "seconds": scored - started,
    }
    if dataset.cluster_f1:
        strong = [p for p, s in scores.items() if s >= 0.95]
        labels = clusters(len(records), strong)
        result["clustered"] = _metrics(pair_metrics(cluster_pairs(labels), truth))
    if dataset.name == "synthetic_cn":
        result["grades"] = asdict(grade_report(records, dataset.entities, matcher))
    return result


def run_baseline(dataset: data.Dataset) -> dict[str, Any]:
    """Splink on the same data set, same truth."""
    truth = true_pairs(dataset.entities, dataset.sources)
    out = run_splink(dataset)
    result: dict[str, Any] = {
        "scored_pairs": len(out["scores"]),
        "pairwise": _metrics(pair_metrics(out["predicted"], truth)),
        "seconds": out["train_seconds"] + out["predict_seconds"],
        "train_seconds": out["train_seconds"],
    }
    if out["clusters"] is not None:
        result["clustered"] = _metrics(pair_metrics(cluster_pairs(out["clusters"]), truth))
    return result


def _loaders(persons: int) -> dict[str, Callable[[], data.Dataset | None]]:
    return {
        "febrl4": data.febrl4,
        "febrl3": data.febrl3,
        "historical_50k": data.historical,
        "synthetic_cn": lambda: data.synthetic(persons),
    }


def _line(name: str, label: str, result: dict[str, Any]) -> str:
    key = "clustered" if "clustered" in result else "pairwise"
    m = result[key]
    extra = ""
    if "pair_completeness" in result:
        extra = f"  PC {result['pair_completeness']:.4f} RR {result['reduction_ratio']:.6f}"
    return (f"{name:15} {label:7} {key:9} P {m['precision']:.4f} R {m['recall']:.4f} "
            f"F1 {m['f1']:.4f}  {result['seconds']:7.2f} s{extra}")  # fmt: skip


def _ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    key = "clustered" if "clustered" in ours and "clustered" in theirs else "pairwise"
    return {
        "f1_ratio": ours[key]["f1"] / theirs[key]["f1"] if theirs[key]["f1"] else 0.0,
        "time_ratio": ours["seconds"] / theirs["seconds"] if theirs["seconds"] else 0.0,
    }


@bench_mpi_app.command("mpi")
def mpi(
    datasets: Annotated[str, typer.Option(help="Comma-separated subset of data sets.")] = ",".join(
        DATASETS
    ),
    persons: Annotated[int, typer.Option(help="Persons in the synthetic Chinese set.")] = 20_000,
    splink: Annotated[bool, typer.Option(help="Run Splink beside the engine.")] = True,
    out: Annotated[Path, typer.Option(help="Folder for the JSON result.")] = RESULTS_DIR,
) -> None:
    """Run the matching engine (and Splink) on FEBRL4, FEBRL3, historical_50k and synthetic CN."""
    with_splink = splink and splink_available()
    if splink and not with_splink:
        typer.echo("splink is not installed (pip install -e '.[bench]'); engine only")
    loaders = _loaders(persons)
    report: dict[str, Any] = {"started": datetime.now().isoformat(timespec="seconds")}
    for name in [d.strip() for d in datasets.split(",") if d.strip()]:
        try:
            dataset = loaders[name]()
        except ImportError as error:
            typer.echo(f"{name:15} skipped: {error}")
            continue
        if dataset is None:
            typer.echo(f"{name:15} skipped: data file not found under {data.shared_data_dir()}")
            continue
        entry: dict[str, Any] = {"engine": run_engine(dataset)}
        typer.echo(_line(name, "engine", entry["engine"]))
        if with_splink:
            entry["splink"] = run_baseline(dataset)
            entry["vs_splink"] = _ratios(entry["engine"], entry["splink"])
            typer.echo(_line(name, "splink", entry["splink"]))
        if "grades" in entry["engine"]:
            g = entry["engine"]["grades"]
            typer.echo(
                f"{'':15} grades  certain P {g['certain']['precision']:.4f} "
                f"R {g['certain']['recall']:.4f}; certain+probable+possible R "
                f"{g['any_grade']['recall']:.4f}; review {g['review_share']:.2%}"
            )
        report[name] = entry
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"mpi-{datetime.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    typer.echo(f"wrote {path}")


if __name__ == "__main__":
    bench_mpi_app()
