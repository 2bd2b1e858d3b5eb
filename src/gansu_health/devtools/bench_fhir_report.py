"""Report of the FHIR benchmark: cross-server answer checks, targets and rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from gansu_health.devtools.bench_fhir_data import QUERY_KINDS, Sample, ratio
from gansu_health.devtools.bench_fhir_http import Answer

INGEST_TARGET = 1500.0
PEER_FACTOR = 3.0
P95_TARGET_MS = 30.0
GROWTH_LIMIT = 1.5
SERVERS = ("ours-sqlite", "ours-pg", "peer")


def compare_answers(answers: dict[str, dict[str, dict[str, list[Answer | None]]]],
                    samples: dict[str, list[Sample]], scale: int) -> list[dict[str, Any]]:
    """List the verification queries whose (total, matches, included) differ between servers."""
    out: list[dict[str, Any]] = []
    for phase in ("x1", "xN"):
        for kind in QUERY_KINDS:
            per_server = {name: ph[phase][kind.name] for name, ph in answers.items()
                          if phase in ph and ph[phase].get(kind.name)}
            if len(per_server) < 2:
                continue
            for i, sample in enumerate(samples[phase]):
                got = {name: lst[i] for name, lst in per_server.items() if i < len(lst)}
                if len(got) < 2:
                    continue
                keys = {name: None if a is None else (a.status, a.total, a.matches, a.included)
                        for name, a in got.items()}
                if len(set(keys.values())) > 1:
                    copy, bundle = sample.patient
                    pid = f"<patient of replica {copy} bundle {bundle}>"
                    out.append({
                        "phase": "x1" if phase == "x1" else f"x{scale}", "kind": kind.name,
                        "query": kind.build({**sample.values, "pid": pid}),
                        "answers": {name: None if a is None else
                                    {"status": a.status, "total": a.total, "matches": a.matches,
                                     "included": a.included} for name, a in got.items()}})
    return out


def _q(results: dict[str, Any], server: str, phase: str, kind: str, key: str) -> float | None:
    q = results["servers"].get(server, {}).get("queries", {}).get(phase, {}).get(kind)
    if not q or q.get("status") != "ok":
        return None
    value = q.get(key)
    return float(value) if value is not None else None


def _rate(results: dict[str, Any], server: str, phase: str) -> float | None:
    ing = results["servers"].get(server, {}).get("ingest", {})
    value = ing.get(phase, {}).get("resources_per_s")
    return float(value) if value else None


def _worst(results: dict[str, Any], phase: str) -> tuple[str, float] | None:
    vals = [(k.name, v) for k in QUERY_KINDS
            if (v := _q(results, "ours-sqlite", phase, k.name, "p95_ms")) is not None]
    return max(vals, key=lambda kv: kv[1]) if vals else None


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the issue's targets (SQLite figures of our server) and say PASS, FAIL or n/a."""
    scale = results["config"]["scale"]
    xn = f"x{scale}"
    ours = _rate(results, "ours-sqlite", "sequential")
    peer = _rate(results, "peer", "sequential")
    factor = ratio(ours, peer)
    worst1, worstn = _worst(results, "x1"), _worst(results, xn)
    growth = [(k.name, g) for k in QUERY_KINDS
              if (g := ratio(_q(results, "ours-sqlite", xn, k.name, "p95_ms"),
                             _q(results, "ours-sqlite", "x1", k.name, "p95_ms"))) is not None]
    worst_growth = max(growth, key=lambda kv: kv[1]) if growth else None
    return [
        {"target": f"transaction ingest ≥ {INGEST_TARGET:,.0f} res/s",
         "value": f"{ours:,.0f} res/s" if ours else "—",
         "result": _verdict(None if ours is None else ours >= INGEST_TARGET)},
        {"target": f"transaction ingest ≥ {PEER_FACTOR:g}× the peer",
         "value": f"{factor:.2f}×" if factor else "—",
         "result": _verdict(None if factor is None else factor >= PEER_FACTOR)},
        {"target": f"search p95 ≤ {P95_TARGET_MS:g} ms at ×1 (worst type)",
         "value": f"{worst1[1]:.1f} ms ({worst1[0]})" if worst1 else "—",
         "result": _verdict(None if worst1 is None else worst1[1] <= P95_TARGET_MS)},
        {"target": f"search p95 ≤ {GROWTH_LIMIT:g}×{P95_TARGET_MS:g} ms at ×{scale} (worst type)",
         "value": f"{worstn[1]:.1f} ms ({worstn[0]})" if worstn else "—",
         "result": _verdict(None if worstn is None or scale == 1
                            else worstn[1] <= GROWTH_LIMIT * P95_TARGET_MS)},
        {"target": f"search p95 growth ×1→×{scale} ≤ {GROWTH_LIMIT:g}× (worst type)",
         "value": f"{worst_growth[1]:.2f}× ({worst_growth[0]})" if worst_growth else "—",
         "result": _verdict(None if worst_growth is None else worst_growth[1] <= GROWTH_LIMIT)},
    ]


def _fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _lat(results: dict[str, Any], server: str, phase: str, kind: str) -> str:
    q = results["servers"].get(server, {}).get("queries", {}).get(phase, {}).get(kind)
    if not q:
        return "—"
    if q["status"] != "ok":
        return str(q["status"])
    flag = f" [red]({q['errors']} err)[/]" if q.get("errors") else ""
    return f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}{flag}"


def render(console: Console, results: dict[str, Any]) -> None:
    """Print the ingest, latency, scale and target tables."""
    present = [s for s in SERVERS if "ingest" in results["servers"].get(s, {})]
    scale = results["config"]["scale"]
    xn = f"x{scale}"
    ing = Table(title="Transaction ingest (resources/s; ratio > 1 = ours faster)")
    ing.add_column("phase")
    for s in present:
        ing.add_column(s, justify="right")
    for s in present[:-1] if "peer" in present else []:
        ing.add_column(f"{s.removeprefix('ours-')}/peer", justify="right")
    for label, phase in (("×1, 1 client", "sequential"), ("replica 1, 2 clients", "concurrent_2"),
                         (f"replicas 2..{scale - 1} (×{scale} phase)", "replicas")):
        row = [label, *(_fmt(_rate(results, s, phase)) for s in present)]
        if "peer" in present:
            row += [_fmt(ratio(_rate(results, s, phase), _rate(results, "peer", phase)),
                         ".2f", "×") for s in present[:-1]]
        ing.add_row(*row)
    console.print(ing)
    lat = Table(title="Search latency at ×1, ms p50 / p95 (ratio = peer p95 / ours p95, "
                      "> 1 = ours faster)")
    lat.add_column("query")
    for s in present:
        lat.add_column(s, justify="right")
    if "peer" in present:
        lat.add_column("peer/sqlite p95", justify="right")
    for k in QUERY_KINDS:
        row = [k.name, *(_lat(results, s, "x1", k.name) for s in present)]
        if "peer" in present:
            row.append(_fmt(ratio(_q(results, "peer", "x1", k.name, "p95_ms"),
                                  _q(results, "ours-sqlite", "x1", k.name, "p95_ms")), ".2f", "×"))
        lat.add_row(*row)
    console.print(lat)
    scaled = [s for s in present if xn in results["servers"][s].get("queries", {})]
    if scale > 1 and scaled:
        tab = Table(title=f"Search latency at ×{scale}, ms p50 / p95 (growth = p95 ×{scale} / "
                          "p95 ×1)")
        tab.add_column("query")
        for s in scaled:
            tab.add_column(s, justify="right")
            tab.add_column("growth", justify="right")
        for k in QUERY_KINDS:
            row = [k.name]
            for s in scaled:
                row += [_lat(results, s, xn, k.name),
                        _fmt(ratio(_q(results, s, xn, k.name, "p95_ms"),
                                   _q(results, s, "x1", k.name, "p95_ms")), ".2f", "×")]
            tab.add_row(*row)
        console.print(tab)
    tgt = Table(title="Targets (ours on SQLite)")
    for col in ("target", "measured", "result"):
        tgt.add_column(col)
    colour = {"PASS": "green", "FAIL": "red"}
    for t in results["targets"]:
        c = colour.get(t["result"], "yellow")
        tgt.add_row(t["target"], t["value"], f"[bold {c}]{t['result']}[/]")
    console.print(tgt)
    for s in present:
        for note in results["servers"][s].get("notes", []):
            console.print(f"[dim]{s}: {note}[/]")
        for line in results["servers"][s].get("log_errors", [])[:5]:
            console.print(f"[red]{s} log:[/] {line[:200]}")
    dis = results.get("disagreements", [])
    console.print(f"answer disagreements between servers: [bold]{len(dis)}[/]")
    for d in dis[:12]:
        got = ", ".join(f"{k}: " + ("—" if v is None else
                                    f"{v['status']} total={v['total']} m={v['matches']} "
                                    f"inc={v['included']}") for k, v in d["answers"].items())
        console.print(f"  [{d['phase']}] {d['kind']}: {d['query']} → {got}")
