"""The store's field-protection port: values sealed at rest, searched through blind indexes.

The FHIR layer does not know which values are sensitive nor how they are sealed; a domain
installs an implementation (``identity.fields`` seals resident ids, phones and street addresses
of person resources). The store seals bodies before writing version rows, indexes a blinded copy
and opens stored bytes on every read; the search asks which index codes a token value stands for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from gansu_health.core.errors import PlatformError


class SealedValueError(PlatformError):
    """A stored value does not open: altered, or sealed under a key or for a resource we lack."""

    status = 500
    code = "security"


class FieldProtection(ABC):
    """Seals chosen values of resource bodies and blinds them for the search index."""

    @abstractmethod
    def protects(self, rtype: str) -> bool:
        """Tell whether resources of ``rtype`` may hold protected values."""

    @abstractmethod
    def seal(self, rtype: str, fid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``body`` to store, its protected values sealed (``body`` is kept)."""

    @abstractmethod
    def index_body(self, rtype: str, body: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``body`` to index: protected tokens blinded, protected text removed."""

    @abstractmethod
    def open(self, rtype: str, fid: str, content: bytes) -> bytes:
        """Return stored JSON bytes with the protected values opened (plaintext)."""

    @abstractmethod
    def seals_param(self, rtype: str, param: str) -> bool:
        """Tell whether the token parameter ``param`` of ``rtype`` indexes protected values."""

    @abstractmethod
    def search_codes(self, rtype: str, param: str, system: str | None, code: str) -> list[str]:
        """Return the index codes a token search for ``system|code`` (system None: any) must
        match: the code itself for clear rows and its blind forms."""


Lookup = Callable[[str | None, str], list[str]]


def token_lookup(protection: FieldProtection | None, rtype: str, ptype: str, param: str,
                 modifier: str | None) -> Lookup | None:
    """Return how to turn a searched ``system|code`` into index codes, or None for plain codes."""
    if protection is None or ptype != "token" or modifier not in (None, "not") or \
            not protection.seals_param(rtype, param):
        return None
    return lambda system, code: protection.search_codes(rtype, param, system, code)
