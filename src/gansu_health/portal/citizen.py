"""The signed-in citizen of a page: FHIR as them, their readable 就诊人 and the chosen one."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from starlette.requests import Request

from gansu_health.portal import family
from gansu_health.portal.family import Person
from gansu_health.ui.context import PageContext
from gansu_health.ui.fhir_access import FhirAs, as_session
from gansu_health.ui.session_guard import require
from gansu_health.ui.templating import renderer


@dataclass(frozen=True, slots=True)
class Citizen:
    """A citizen request: page context, FHIR access, the people they act for."""

    page: PageContext
    fhir: FhirAs
    people: list[Person]
    person: Person | None
    zone: ZoneInfo

    def person_of(self, patient_id: str) -> Person:
        """One of the people (404 otherwise)."""
        found = family.pick(self.people, patient_id)
        assert found is not None
        return found


def citizen(request: Request, who: str = "") -> Citizen:
    """The signed-in citizen (redirect to sign in) and the person ``who`` names."""
    page, session = require(request, "citizen")
    fhir = as_session(request, session)
    people = family.readable(request, session, fhir)
    return Citizen(page, fhir, people, family.pick(people, who[:64]), renderer(request).zone)
