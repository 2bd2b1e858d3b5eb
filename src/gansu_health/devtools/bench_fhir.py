"""`gansu-health bench fhir`: transaction ingest and a fixed search mix, ours beside sekmet-fhir."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gansu_health.devtools.bench_fhir_data import (
    QUERY_KINDS,
    REPO_ROOT,
    BundleFacts,
    Sample,
    bundle_facts,
    replicate_bundle,
    sample_params,
    synthea_files,
)
from gansu_health.devtools.bench_fhir_http import Answer, BundleJob, IngestResult, ingest, run_mix
from gansu_health.devtools.bench_fhir_report import compare_answers, evaluate_targets, render
from gansu_health.devtools.bench_fhir_servers import (
    ServerProcess,
    ensure_peer,
    machine_info,
    peer_version,
    start_ours,
    start_peer,
)

bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)


@bench_app.callback()
def _bench() -> None:
    """Benchmarks of the platform against its peers."""
WARMUP = 5
PhaseAnswers = dict[str, dict[str, list[Answer | None]]]
VERIFY = 10


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def bench_dir() -> Path:
    """Return <repo>/bench (or ./bench when the package is not run from a checkout)."""
    return REPO_ROOT / "bench" if (REPO_ROOT / "pyproject.toml").exists() else Path("bench")


@dataclass
class Dataset:
    """The Bundles of the run, their facts and the replicas made so far."""

    raws: list[bytes]
    facts: list[BundleFacts]
    replicas: dict[int, list[bytes]]

    @property
    def resources(self) -> int:
        """Return the resources of one copy."""
        return sum(f.entries for f in self.facts)

    def jobs(self, copy: int) -> list[BundleJob]:
        """Return the posting jobs of replica ``copy`` (made once, then kept)."""
        if copy not in self.replicas:
            self.replicas[copy] = [replicate_bundle(r, copy) for r in self.raws]
        return [BundleJob((copy, i), body, f.entries, f.patient_index)
                for i, (body, f) in enumerate(zip(self.replicas[copy], self.facts, strict=True))]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)


def _ingest(console: Console, server: ServerProcess, label: str, jobs: Sequence[BundleJob],
            clients: int) -> IngestResult:
    total = sum(j.entries for j in jobs)
    with _progress(console) as bar:
        task = bar.add_task(f"{server.name} {label} ({clients} client{'s' * (clients > 1)})",
                            total=total, rate="")
        start = time.perf_counter()

        def advance(n: int) -> None:
            done = bar.tasks[0].completed + n
            bar.update(task, advance=n,
                       rate=f"{done / max(time.perf_counter() - start, 1e-9):,.0f} res/s")

        result = ingest(server.base_url, jobs, clients, advance)
    console.print(f"  {server.name} {label}: {result.resources:,} resources in "
                  f"{result.seconds:.1f} s = [bold]{result.rate:,.0f} res/s[/]"
                  + (f", [red]{len(result.errors)} errors[/]" if result.errors else ""))
    for err in result.errors[:3]:
        console.print(f"    [red]✗[/] {err[:300]}")
    return result


def _db_bytes(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern) if p.is_file())


def _bench_server(console: Console, server: ServerProcess, data: Dataset,
                  samples: dict[str, list[Sample]], opts: dict[str, Any],
                  scale_allowed: Callable[[IngestResult, IngestResult], tuple[bool, str]],
                  size: Callable[[], int | None]) -> tuple[dict[str, Any], PhaseAnswers]:
    """Ingest, run the mix at ×1, ingest replicas, run the mix at ×scale; return figures."""
    name, scale, runs = server.name, opts["scale"], opts["queries"]
    fig: dict[str, Any] = {"base_url": server.base_url, "notes": list(server.notes),
                           "ingest": {}, "queries": {}, "db_bytes": {}}
    answers: PhaseAnswers = {}
    seq = _ingest(console, server, "×1 ingest", data.jobs(0), 1)
    fig["ingest"]["sequential"] = seq.as_dict()
    server.after_load()
    ids = dict(seq.patient_ids)
    fig["db_bytes"]["x1"] = size()
    console.print(f"  {name}: query mix at ×1 ({runs} runs per type after {WARMUP} warm-up)")
    stats, answers["x1"] = run_mix(server.base_url, samples["x1"], ids, runs, WARMUP, VERIFY)
    fig["queries"]["x1"] = {k: s.as_dict() for k, s in stats.items()}
    conc = _ingest(console, server, "replica 1 ingest", data.jobs(1), 2)
    fig["ingest"]["concurrent_2"] = conc.as_dict()
    ids.update(conc.patient_ids)
    scaled = scale == 2
    if scale > 2:
        allowed, why = scale_allowed(seq, conc)
        scaled = allowed
        if why:
            fig["notes"].append(why)
            console.print(f"  [yellow]{why}[/]")
        if allowed:
            clients = 2 if conc.rate > seq.rate else 1
            total = IngestResult(clients)
            for copy in range(2, scale):
                part = _ingest(console, server, f"replica {copy} ingest", data.jobs(copy), clients)
                total.resources += part.resources
                total.bundles += part.bundles
                total.seconds += part.seconds
                total.errors += part.errors
                ids.update(part.patient_ids)
            fig["ingest"]["replicas"] = {**total.as_dict(), "copies": f"2..{scale - 1}"}
    if scale > 1 and scaled:
        server.after_load()
        fig["db_bytes"][f"x{scale}"] = size()
        console.print(f"  {name}: query mix at ×{scale}")
        stats, answers["xN"] = run_mix(server.base_url, samples["xN"], ids, runs, WARMUP, VERIFY)
        fig["queries"][f"x{scale}"] = {k: s.as_dict() for k, s in stats.items()}
    fig["log_errors"] = server.log_errors()
    return fig, answers


def run(bundles: int | None = None, scale: int = 10, peer: bool = True, postgres: bool = True,
        queries: int = 50, out: Path | None = None, seed: int = 2019,
        peer_validation: str = "strict", peer_scale_budget: float = 240.0,
        keep_data: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Run the FHIR benchmark and return (and write to ``out``) all figures."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=132)
    scale = max(1, scale)
    machine = {**machine_info(), "loadavg_start": _loadavg()}
    console.rule("[bold]gansu-health FHIR benchmark")
    console.print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB "
                  f"RAM, Python {machine['python']}, {machine['os']}; load average "
                  f"{machine['loadavg_start']} (a busy machine skews every figure)")
    files = synthea_files(bundles)
    raws = [f.read_bytes() for f in files]
    data = Dataset(raws, [bundle_facts(orjson.loads(r)) for r in raws], {})
    console.print(f"data: {len(files)} Synthea transaction Bundles, {data.resources:,} resources "
                  f"({sum(map(len, raws)) / 1e6:.0f} MB); ×{scale} phase: "
                  f"{data.resources * scale:,} resources")
    n = queries + WARMUP
    samples = {"x1": sample_params(data.facts, 1, n, seed),
               "xN": sample_params(data.facts, scale, n, seed + 1)}
    opts = {"scale": scale, "queries": queries}
    results: dict[str, Any] = {
        "date": date.today().isoformat(), "machine": machine,
        "versions": {"gansu-health": _version("gansu-health")},
        "config": {"bundles": len(files), "resources_x1": data.resources, "scale": scale,
                   "queries": queries, "warmup": WARMUP, "verify": VERIFY, "seed": seed,
                   "peer": peer, "postgres": postgres, "peer_validation": peer_validation},
        "query_kinds": {k.name: k.description for k in QUERY_KINDS},
        "servers": {}, "notes": [
            "ingest: Bundles POSTed to [base] with Prefer: return=minimal; "
            "res/s over the whole run",
            "replica 1 is ingested with 2 concurrent clients into the server already holding ×1",
            "timed queries are sent as a client would (no _total, default page size, Prefer: "
            "handling=strict); the peer counts totals on every search, ours only on _total",
            f"correctness: the first {VERIFY} parameter sets of each type are re-asked with "
            "_total=accurate and compared (total, matches, included)"]}
    all_answers: dict[str, PhaseAnswers] = {}
    pg = _Postgres()
    work = Path(tempfile.mkdtemp(prefix="gansu-bench-fhir-"))
    peer_exe = ensure_peer(console.print) if peer else None
    if peer_exe:
        results["versions"]["sekmet-fhir"] = peer_version(peer_exe)

    def ours_scale(_seq: IngestResult, _conc: IngestResult) -> tuple[bool, str]:
        return True, ""

    def peer_scale(seq: IngestResult, conc: IngestResult) -> tuple[bool, str]:
        rate = max(seq.rate, conc.rate, 1e-9)
        need = data.resources * (scale - 2) / rate
        if need <= peer_scale_budget:
            return True, ""
        return False, (f"×{scale} phase skipped for the peer: its {rate:,.0f} res/s would need "
                       f"~{need / 60:.0f} min for the replicas (budget "
                       f"{peer_scale_budget / 60:.0f} min); ×{scale} figures are ours only")

    try:
        plan: list[tuple[str, Callable[[], ServerProcess], Callable[[], int | None], Any]] = [
            ("ours-sqlite", lambda: start_ours("ours-sqlite", f"sqlite:///{work}/ours.db", work),
             lambda: _db_bytes(work, "ours.db*"), ours_scale)]
        if postgres:
            plan.append(("ours-pg", lambda: pg.start(work), lambda: None, ours_scale))
        if peer_exe:
            exe = peer_exe
            plan.append(("peer", lambda: start_peer(exe, work, peer_validation),
                         lambda: _db_bytes(work / "peer", "sekmet.db*"), peer_scale))
        for name, start, size, allowed in plan:
            console.rule(name)
            try:
                server = start()
            except Exception as exc:  # a server that cannot start is reported, not fatal
                console.print(f"[red]{name} did not start: {exc}[/]")
                results["servers"][name] = {"error": str(exc)[:2000]}
                continue
            try:
                fig, all_answers[name] = _bench_server(console, server, data, samples, opts,
                                                       allowed, size)
                results["servers"][name] = fig
            finally:
                server.stop()
                pg.stop()
    finally:
        pg.stop()
        if keep_data:
            console.print(f"data kept in {work} (SQLite files of ours and the peer)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    machine["loadavg_end"] = _loadavg()
    results["disagreements"] = compare_answers(all_answers, samples, scale)
    results["targets"] = evaluate_targets(results)
    render(console, results)
    path = out or bench_dir() / "results" / f"fhir-{results['date']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    console.print(f"figures written to {path}")
    return results


class _Postgres:
    """The throwaway PostgreSQL cluster behind ``ours-pg`` (started on demand)."""

    def __init__(self) -> None:
        self.cluster: Any = None

    def start(self, work: Path) -> ServerProcess:
        """Start a cluster, create the database and start our server on it."""
        from gansu_health.devtools.pgcluster import PostgresCluster

        self.cluster = PostgresCluster().start()
        server = start_ours("ours-pg", self.cluster.create_database("bench_fhir"), work)
        server.notes.append("throwaway PostgreSQL cluster (fsync off, synchronous_commit off)")
        return server

    def stop(self) -> None:
        """Stop the cluster when one runs."""
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


@bench_app.command("fhir")
def fhir(bundles: Annotated[int | None, typer.Option(help="Bundles to load (default all).")
                            ] = None,
         scale: Annotated[int, typer.Option(help="Data factor of the scale phase (1 = off).")
                          ] = 10,
         peer: Annotated[bool, typer.Option("--peer/--no-peer",
                                            help="Also benchmark sekmet-fhir.")] = True,
         postgres: Annotated[bool, typer.Option("--postgres/--no-postgres",
                                                help="Also run ours on PostgreSQL.")] = True,
         queries: Annotated[int, typer.Option(help="Timed runs per query type.")] = 50,
         out: Annotated[Path | None, typer.Option(help="JSON output (default "
                                                       "bench/results/fhir-<date>.json).")
                        ] = None,
         seed: Annotated[int, typer.Option(help="Seed of the query parameters.")] = 2019,
         peer_validation: Annotated[str, typer.Option(
             help="Peer inbound validation: strict, warn or off.")] = "strict",
         peer_scale_budget: Annotated[float, typer.Option(
             help="Seconds the peer may spend on the scale-phase replicas.")] = 240.0,
         keep_data: Annotated[bool, typer.Option(
             help="Keep the temporary SQLite databases for inspection.")] = False) -> None:
    """Benchmark FHIR transaction ingest and search against sekmet-fhir, SQLite and PostgreSQL."""
    run(bundles=bundles, scale=scale, peer=peer, postgres=postgres, queries=queries, out=out,
        seed=seed, peer_validation=peer_validation, peer_scale_budget=peer_scale_budget,
        keep_data=keep_data)
