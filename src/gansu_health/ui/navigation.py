"""Navigation entries and the extension points where later features plug in their pages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of a navigation bar or a home-page tile (``label`` is a msgid)."""

    href: str
    label: str
    icon: str = ""
    description: str = ""

    def current(self, path: str) -> bool:
        """Whether ``path`` is this entry's page or below it."""
        if self.href in ("/", "/console"):
            return path == self.href
        return path == self.href or path.startswith(self.href.rstrip("/") + "/")


@dataclass
class FeatureSlots:
    """Named places where features that are not built yet register their entries.

    A slot with nothing registered renders nothing (no placeholder pages). Features plug in
    from their package's setup, e.g. booking: ``slots.add("home", NavItem("/booking", ...))``.
    """

    slots: dict[str, list[NavItem]]

    def add(self, slot: str, item: NavItem) -> None:
        """Register ``item`` in ``slot`` (unknown slots are refused to catch typos)."""
        if slot not in self.slots:
            raise KeyError(f"unknown UI slot {slot!r}; known: {', '.join(self.slots)}")
        if all(i.href != item.href for i in self.slots[slot]):
            self.slots[slot].append(item)

    def items(self, slot: str) -> list[NavItem]:
        """What is registered in ``slot``."""
        return list(self.slots.get(slot, ()))
