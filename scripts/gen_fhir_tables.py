"""Derive the compact FHIR R4 tables the product ships from the official definitions.

Run: python scripts/gen_fhir_tables.py [../shared/data/fhir-r4]
Writes src/gansu_health/fhir/definitions/{types,valuesets,search,compartment}.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "gansu_health" / "fhir" / "definitions"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
# additions of the Medplum-packaged definitions that are not part of R4 4.0.1
NOT_R4 = {"Meta": {"project", "author", "onBehalfOf", "account", "accounts", "compartment",
                   "deleted"}}
JSON_KIND = {"boolean": "boolean", "integer": "integer", "positiveInt": "integer",
             "unsignedInt": "integer", "decimal": "number"}


def _load(src: Path, name: str) -> Any:
    return json.loads((src / name).read_text(encoding="utf-8"))


def _type_codes(el: dict[str, Any]) -> list[str]:
    codes = []
    for t in el.get("type", []):
        code = t["code"]
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                code = ext["valueUrl"]
        codes.append(code)
    return codes


def _structure_tables(
    src: Path,
) -> tuple[dict[str, Any], dict[str, Any], list[str], set[str]]:
    types: dict[str, Any] = {}
    primitives: dict[str, Any] = {}
    resources: list[str] = []
    required: set[str] = set()
    sds = [e["resource"] for f in ("profiles-types.json", "profiles-resources.json")
           for e in _load(src, f)["entry"]
           if e["resource"]["resourceType"] == "StructureDefinition"]
    schema = _load(src, "fhir.schema.json")["definitions"]
    for sd in sds:
        if sd.get("derivation") == "constraint" or sd["kind"] == "logical":
            continue
        if sd.get("fhirVersion", "4.0.1") != "4.0.1":
            print(f"skipped {sd['id']}: FHIR {sd['fhirVersion']}, not R4")
            continue
        name = sd["id"]
        if sd["kind"] == "primitive-type":
            regex = None
            for el in sd["snapshot"]["element"]:
                if el["path"] == f"{name}.value":
                    for t in el.get("type", []):
                        for ext in t.get("extension", []):
                            if ext["url"] == REGEX_EXT:
                                regex = ext["valueString"]
            primitives[name] = {"json": JSON_KIND.get(name, "string"), "regex": regex}
            continue
        if sd["kind"] == "resource" and not sd.get("abstract"):
            resources.append(name)
        elements: dict[str, Any] = {}
        allowed = set(schema.get(name, {}).get("properties", {})) - NOT_R4.get(name, set())
        dropped: list[str] = []
        for el in sd["snapshot"]["element"][1:]:
            rel = el["path"].split(".", 1)[1]
            top = rel.split(".")[0]
            if allowed and top.replace("[x]", "") not in allowed and not any(
                    p.startswith(top.replace("[x]", "")) for p in allowed):
                dropped.append(rel)
                continue
            mx = el["max"]
            if "contentReference" in el:
                codes = ["@" + el["contentReference"].split(".", 1)[1]]
            else:
                codes = _type_codes(el)
            vs = None
            binding = el.get("binding")
            if binding and binding.get("strength") == "required" and binding.get("valueSet"):
                vs = binding["valueSet"].split("|")[0]
                required.add(vs)
            summary = 1 if el.get("isSummary") else 0
            elements[rel] = [el["min"], -1 if mx == "*" else int(mx), codes, vs, summary]
        if dropped:
            print(f"dropped from {name} (not in R4): {', '.join(dropped)}")
        types[name] = {"kind": sd["kind"], "abstract": bool(sd.get("abstract")),
                       "base": (sd.get("baseDefinition") or "").rsplit("/", 1)[-1] or None,
                       "elements": elements}
    return types, primitives, sorted(resources), required


def _valuesets(src: Path, wanted: set[str]) -> dict[str, dict[str, list[str]]]:
    entries = [e["resource"] for e in _load(src, "valuesets.json")["entry"]]
    codesystems = {r["url"]: r for r in entries if r["resourceType"] == "CodeSystem"}
    valuesets = {r["url"]: r for r in entries if r["resourceType"] == "ValueSet"}

    def all_codes(concepts: list[dict[str, Any]]) -> list[str]:
        out: list[str] = []
        for c in concepts:
            out.append(c["code"])
            out.extend(all_codes(c.get("concept", [])))
        return out

    def expand(url: str) -> dict[str, list[str]] | None:
        vs = valuesets.get(url)
        if vs is None:
            return None
        result: dict[str, set[str]] = {}
        for inc in vs.get("compose", {}).get("include", []):
            for sub in inc.get("valueSet", []):
                sub_exp = expand(sub.split("|")[0])
                if sub_exp is None:
                    return None
                for system, codes in sub_exp.items():
                    result.setdefault(system, set()).update(codes)
            system = inc.get("system")
            if not system:
                continue
            if inc.get("filter"):
                return None
            if "concept" in inc:
                result.setdefault(system, set()).update(c["code"] for c in inc["concept"])
            else:
                cs = codesystems.get(system)
                if cs is None or cs.get("content") != "complete":
                    return None
                result.setdefault(system, set()).update(all_codes(cs.get("concept", [])))
        if vs.get("compose", {}).get("exclude"):
            return None
        return {s: sorted(c) for s, c in result.items()}

    out = {}
    for url in sorted(wanted):
        exp = expand(url)
        if exp:
            out[url] = exp
    return out


def _split_union(expr: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "|" and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [p for p in parts if p]


def _first_identifier(part: str) -> str:
    stripped = part.lstrip("( ")
    ident = ""
    for ch in stripped:
        if ch.isalnum() or ch == "_":
            ident += ch
        else:
            break
    return ident


def _search_tables(src: Path, resources: list[str]) -> dict[str, Any]:
    params = [e["resource"] for e in _load(src, "search-parameters.json")["entry"]]
    by_url = {p["url"]: p for p in params}
    table: dict[str, dict[str, Any]] = {}
    for p in params:
        for base in p["base"]:
            targets = resources if base in ("Resource", "DomainResource") else [base]
            for rtype in targets:
                if base == "DomainResource" and rtype in ("Bundle", "Binary", "Parameters"):
                    continue
                expr = p.get("expression")
                if expr and base not in ("Resource", "DomainResource"):
                    kept = [x for x in _split_union(expr) if _first_identifier(x) == rtype]
                    expr = " | ".join(kept) if kept else None
                elif expr:
                    expr = " | ".join(
                        x.replace(base + ".", rtype + ".", 1) for x in _split_union(expr))
                entry: dict[str, Any] = {"type": p["type"], "expr": expr, "url": p["url"]}
                if p.get("target"):
                    entry["targets"] = p["target"]
                if p.get("component"):
                    entry["components"] = [
                        [by_url[c["definition"]]["code"], by_url[c["definition"]]["type"],
                         c["expression"]] for c in p["component"]]
                table.setdefault(rtype, {})[p["code"]] = entry
    return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}


def _compartment(src: Path) -> dict[str, list[str]]:
    cd = _load(src, "compartmentdefinition-patient.json")
    return {r["code"]: r["param"] for r in cd["resource"] if r.get("param")}


def _write(name: str, data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    (OUT / name).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {name}: {len(text) // 1024} KiB")


def main() -> None:
    """Generate every table."""
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "fhir-r4"
    types, primitives, resources, required = _structure_tables(src)
    _write("types.json", {"fhirVersion": "4.0.1", "resources": resources,
                          "primitives": primitives, "types": types})
    _write("valuesets.json", _valuesets(src, required))
    _write("search.json", _search_tables(src, resources))
    _write("compartment.json", _compartment(src))


if __name__ == "__main__":
    main()
