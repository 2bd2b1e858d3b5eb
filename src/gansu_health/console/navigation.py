"""The console's role-aware navigation: each entry names the roles that see it."""

from __future__ import annotations

from dataclasses import dataclass

from gansu_health.ui.i18n import N_
from gansu_health.ui.navigation import NavItem


@dataclass(frozen=True, slots=True)
class ConsoleEntry:
    """A console section and the staff roles it is for."""

    item: NavItem
    roles: frozenset[str]


ENTRIES = (
    ConsoleEntry(NavItem("/console", N_("Overview"), "⌂"), frozenset()),
    ConsoleEntry(NavItem("/console/steward", N_("Duplicate review"), "⇄",
                         N_("Possible duplicates of persons: compare, merge, undo")),
                 frozenset({"data-steward"})),
    ConsoleEntry(NavItem("/console/schedules", N_("Clinic schedules"), "◷",
                         N_("Templates, release, stop a clinic, extra numbers")),
                 frozenset({"registrar"})),
    ConsoleEntry(NavItem("/console/checkin", N_("Check-in desk"), "▣",
                         N_("Scan the e-health card and check patients in")),
                 frozenset({"registrar", "nurse", "doctor"})),
    ConsoleEntry(NavItem("/console/indicators", N_("Booking indicators"), "▥",
                         N_("By city and hospital, with charts")),
                 frozenset({"supervisor", "admin"})),
    ConsoleEntry(NavItem("/console/registry", N_("Registry"), "▦",
                         N_("Institutions, departments and staff")),
                 frozenset({"admin"})),
)


def nav_for(roles: frozenset[str], extra: list[NavItem]) -> list[NavItem]:
    """The entries a member of staff with ``roles`` sees (everyone sees the overview)."""
    return [e.item for e in ENTRIES if not e.roles or e.roles & roles] + extra


def allowed(path: str, roles: frozenset[str]) -> bool:
    """Whether ``roles`` may open the section of ``path``."""
    for entry in ENTRIES:
        if entry.roles and entry.item.current(path):
            return bool(entry.roles & roles)
    return True
