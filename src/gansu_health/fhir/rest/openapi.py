"""An OpenAPI description of the FHIR REST interface, merged into the application's schema.

FHIR's own CapabilityStatement (``/fhir/metadata``) is the authoritative description; this one
lets generic HTTP tooling (API explorers, schemathesis) reach the FHIR endpoint too.
"""

from __future__ import annotations

from typing import Any

from gansu_health.fhir.definitions import fhir_model

FHIR_JSON = "application/fhir+json"


def _json_body(required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {FHIR_JSON: {"schema": {"type": "object"}},
                                              "application/json": {"schema": {"type": "object"}}}}


def _responses(*codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {code: {"description": "FHIR resource or Bundle", "content": {
        FHIR_JSON: {"schema": {"type": "object"}}}} for code in codes}
    for code, text in (("400", "OperationOutcome naming the field"),
                       ("401", "No valid access token"), ("403", "Not allowed"),
                       ("404", "Not found")):
        out[code] = {"description": text, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    return out


def fhir_paths(prefix: str = "/fhir") -> dict[str, Any]:
    """OpenAPI path items for the type, instance and system levels of the FHIR API."""
    rtype = {"name": "type", "in": "path", "required": True,
             "schema": {"type": "string", "enum": sorted(fhir_model().resource_types)}}
    rid = {"name": "id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"}}
    search = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
              for name in ("_id", "_count", "_lastUpdated", "_sort", "_include", "_summary")]
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    tags = ["FHIR R4"]
    return {
        f"{prefix}/metadata": {"get": {"summary": "CapabilityStatement", "tags": tags,
                                       "responses": _responses("200")}},
        prefix: {"post": {"summary": "batch or transaction Bundle", "tags": tags,
                          "security": secured, "requestBody": _json_body(),
                          "responses": _responses("200")}},
        f"{prefix}/{{type}}": {
            "get": {"summary": "search", "tags": tags, "security": secured,
                    "parameters": [rtype, *search], "responses": _responses("200")},
            "post": {"summary": "create", "tags": tags, "security": secured,
                     "parameters": [rtype], "requestBody": _json_body(),
                     "responses": _responses("201", "200")}},
        f"{prefix}/{{type}}/{{id}}": {
            "get": {"summary": "read", "tags": tags, "security": secured,
                    "parameters": [rtype, rid], "responses": _responses("200")},
            "put": {"summary": "update (or create)", "tags": tags, "security": secured,
                    "parameters": [rtype, rid], "requestBody": _json_body(),
                    "responses": _responses("200", "201")},
            "delete": {"summary": "delete", "tags": tags, "security": secured,
                       "parameters": [rtype, rid], "responses": _responses("204")}},
        f"{prefix}/{{type}}/{{id}}/_history": {
            "get": {"summary": "instance history", "tags": tags, "security": secured,
                    "parameters": [rtype, rid], "responses": _responses("200")}},
    }


def merge_into(schema: dict[str, Any], prefix: str = "/fhir") -> dict[str, Any]:
    """Add the FHIR paths and the bearer security scheme to an application schema."""
    schema.setdefault("paths", {}).update(fhir_paths(prefix))
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.setdefault("bearer", {"type": "http", "scheme": "bearer",
                                  "description": "SMART on FHIR access token"})
    return schema
