"""Field encryption of person resources: SM4-GCM at rest, HMAC-SM3 blind indexes to search.

What is sealed, in Patient, RelatedPerson, Person and Practitioner (and in ``Patient.contact``):

* ``identifier.value`` of identity documents: a system of the registry's
  ``IDENTITY_DOCUMENT_SYSTEMS`` (resident identity card, household register, passport, permits
  for Hong Kong/Macao and Taiwan residents, foreigner's permanent residence card, driver's
  licence, birth certificate…), or an identifier typed with the identity-document CodeSystem or
  a v2-0203 document type;
* ``telecom.value`` when ``system`` is ``phone`` or ``sms``;
* ``address.line`` and ``address.text``. City, district, state, postal code, country, period
  and the administrative-division extension stay clear, for region searches and statistics.

The sealed value replaces the plaintext in the same string element as a ``g1:<key id>:…``
envelope (``crypto.Envelope``), so a stored body is still a valid FHIR resource of the same shape
and sealing needs no schema of its own. The associated data binds each value to its resource
and element (``Patient/<id>|identifier|<system>``): a value copied to another resource or
element does not open. Reads open the same positions, chosen from the clear ``system`` and
``type`` and never from the look of a value (a client sending an MRN "g1:…" cannot make a read
fail); a position holding plaintext (written before encryption was on) is returned as it is, and
``gansu-health keys reencrypt`` seals it.

The search index sees a blinded copy: protected token values become ``<index key id>:<hex
HMAC-SM3>`` of the normalised value (resident id: upper case without spaces; phone: digits
without +86; other documents: spaces collapsed), and line/text string rows are not written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gansu_health.fhir import jsonio
from gansu_health.fhir.storage.protection import FieldProtection, SealedValueError
from gansu_health.identity.crypto import DecryptionError, envelope_key_id
from gansu_health.identity.keys import FieldCipher, key_provider
from gansu_health.identity.rekey import register_fhir
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM
from gansu_health.registry.terminology.systems import (
    CS_IDENTITY_DOCUMENT,
    IDENTITY_DOCUMENT_SYSTEMS,
    V2_0203,
    V2_IDENTITY_DOCUMENT_TYPES,
)

if TYPE_CHECKING:
    from gansu_health.core.settings import Settings
    from gansu_health.fhir.rest.dispatch import FhirApi

PERSON_TYPES = frozenset({"Patient", "RelatedPerson", "Person", "Practitioner"})
SEALED_TELECOM = frozenset({"phone", "sms"})
TOKEN_PARAMS = frozenset({"identifier", "telecom", "phone"})
MARK = b'"g1:'  # stored bytes without it hold no sealed value
ENVELOPE_PREFIX = "g1:"
# (element, blind-index kind or None for text that is not indexed, value) -> replacement;
# None removes the value
Visit = Callable[[str, str | None, str], str | None]


def is_document(ident: dict[str, Any]) -> bool:
    """Tell whether an Identifier names an identity document (its value is sealed)."""
    if ident.get("system") in IDENTITY_DOCUMENT_SYSTEMS:
        return True
    codings = (ident.get("type") or {}).get("coding") if isinstance(ident.get("type"),
                                                                    dict) else None
    return any(isinstance(c, dict) and (c.get("system") == CS_IDENTITY_DOCUMENT or (
        c.get("system") == V2_0203 and c.get("code") in V2_IDENTITY_DOCUMENT_TYPES))
        for c in codings or [])


def identifier_kind(system: str | None) -> str:
    """Return the blind-index kind of an identity document's value."""
    return "resident_id" if system == RESIDENT_ID_SYSTEM else "text"


def _set(element: dict[str, Any], key: str, value: str | None) -> dict[str, Any]:
    out = dict(element)
    if value is None:
        out.pop(key, None)
    else:
        out[key] = value
    return out


def _identifiers(items: list[Any], visit: Visit) -> list[Any]:
    out = []
    for ident in items:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str) and \
                is_document(ident):
            system = ident.get("system")
            ident = _set(ident, "value", visit(f"identifier|{system or ''}",
                                               identifier_kind(system), ident["value"]))
        out.append(ident)
    return out


def _telecoms(items: list[Any], visit: Visit, prefix: str) -> list[Any]:
    out = []
    for point in items:
        if isinstance(point, dict) and point.get("system") in SEALED_TELECOM and \
                isinstance(point.get("value"), str):
            point = _set(point, "value", visit(f"{prefix}telecom|{point['system']}", "phone",
                                               point["value"]))
        out.append(point)
    return out


def _address(address: Any, visit: Visit, prefix: str) -> Any:
    if not isinstance(address, dict):
        return address
    out = address
    if isinstance(address.get("text"), str):
        out = _set(out, "text", visit(f"{prefix}address.text", None, address["text"]))
    lines = address.get("line")
    if isinstance(lines, list):
        kept = []
        for line in lines:
            new = visit(f"{prefix}address.line", None, line) if isinstance(line, str) else line
            if new is not None:
                kept.append(new)
        out = {**out, "line": kept} if kept else _set(out, "line", None)
    return out


def transform(body: dict[str, Any], visit: Visit) -> dict[str, Any]:
    """Return a copy of a person resource with every protected value replaced by ``visit``."""
    out = dict(body)
    if isinstance(out.get("identifier"), list):
        out["identifier"] = _identifiers(out["identifier"], visit)
    if isinstance(out.get("telecom"), list):
        out["telecom"] = _telecoms(out["telecom"], visit, "")
    if isinstance(out.get("address"), list):
        out["address"] = [_address(a, visit, "") for a in out["address"]]
    if isinstance(out.get("contact"), list):
        contacts = []
        for contact in out["contact"]:
            if isinstance(contact, dict):
                contact = dict(contact)
                if isinstance(contact.get("telecom"), list):
                    contact["telecom"] = _telecoms(contact["telecom"], visit, "contact.")
                if "address" in contact:
                    contact["address"] = _address(contact["address"], visit, "contact.")
            contacts.append(contact)
        out["contact"] = contacts
    return out


class FhirFieldCipher(FieldProtection):
    """The store's field protection for person resources, over a ``FieldCipher``."""

    types = PERSON_TYPES
    token_params = TOKEN_PARAMS

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def protects(self, rtype: str) -> bool:
        """Tell whether resources of ``rtype`` may hold protected values."""
        return rtype in PERSON_TYPES

    def seal(self, rtype: str, fid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``body`` with its protected values sealed under the active key."""
        def visit(element: str, kind: str | None, value: str) -> str:
            return self.cipher.encrypt(value, f"{rtype}/{fid}|{element}")
        return transform(body, visit)

    def index_body(self, rtype: str, body: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``body`` with blind token values and without line/text."""
        def visit(element: str, kind: str | None, value: str) -> str | None:
            return None if kind is None else self.cipher.tagged_index(value, kind)
        return transform(body, visit)

    def open(self, rtype: str, fid: str, content: bytes) -> bytes:
        """Return the stored bytes with protected values opened (plaintext as it was)."""
        if not self.protects(rtype) or MARK not in content:
            return content
        return jsonio.dumps(transform(jsonio.loads(content), self._opener(rtype, fid)))

    def _opener(self, rtype: str, fid: str) -> Callable[[str, str | None, str], str]:
        def visit(element: str, kind: str | None, value: str) -> str:
            if not value.startswith(ENVELOPE_PREFIX):
                return value  # written before encryption was turned on
            try:
                return self.cipher.decrypt(value, f"{rtype}/{fid}|{element}")
            except DecryptionError as exc:
                raise SealedValueError(
                    f"{rtype}/{fid}: the sealed {element} value does not open ({exc}): it was "
                    "altered, or sealed under a key or for a resource this server does not "
                    "have") from exc
        return visit

    def seals_param(self, rtype: str, param: str) -> bool:
        """Tell whether the token parameter indexes protected values (identifier, phones)."""
        return rtype in PERSON_TYPES and param in TOKEN_PARAMS

    def search_codes(self, rtype: str, param: str, system: str | None, code: str) -> list[str]:
        """Return the code itself (clear rows) plus its blind index under every index key."""
        kinds = ["phone"] if param != "identifier" else \
            [identifier_kind(system)] if system is not None else ["resident_id", "text"]
        return [code, *(t for kind in kinds for t in self.cipher.tagged_indexes(code, kind))]

    def rekey(self, rtype: str, fid: str, content: bytes) -> tuple[bytes | None, int]:
        """Re-seal values under the active data key and seal plaintext ones.

        Return the new bytes (None when nothing changed) and how many plaintext values were
        sealed (their resource needs reindexing).
        """
        active = self.cipher.keys.active("data")[0]
        opener = self._opener(rtype, fid)
        changed = plain = 0

        def visit(element: str, kind: str | None, value: str) -> str:
            nonlocal changed, plain
            if value.startswith(ENVELOPE_PREFIX) and _key_id(value) == active:
                return value
            changed += 1
            plain += not value.startswith(ENVELOPE_PREFIX)
            return self.cipher.encrypt(opener(element, kind, value), f"{rtype}/{fid}|{element}")

        body = transform(jsonio.loads(content), visit)
        return (jsonio.dumps(body) if changed else None), plain


def _key_id(token: str) -> str | None:
    try:
        return envelope_key_id(token)
    except DecryptionError:
        return None  # malformed: opening it reports the problem


def field_cipher(settings: Settings) -> FieldCipher | None:
    """Return the field cipher over the process's key provider, or None when turned off."""
    return FieldCipher(key_provider(settings)) if settings.field_encryption else None


def setup(api: FhirApi) -> None:
    """Seal person resources in the store and search them through blind indexes."""
    cipher = field_cipher(api.settings)
    if cipher is None:
        return
    fields = FhirFieldCipher(cipher)
    api.service.store.protection = fields
    api.service.search_engine.builder.protection = fields
    register_fhir(api, fields)
