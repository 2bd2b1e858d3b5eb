"""Extract the UI's messages (templates and ``N_``/``_`` in Python) and update the catalogues.

Run after changing UI text: new msgids are added untranslated, vanished ones dropped; then fill
in the translations in ``src/gansu_health/ui/locale/*/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

SRC = Path(__file__).resolve().parent.parent / "src" / "gansu_health"
UI_PACKAGES = ("ui", "portal", "console")
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    """Every message of the UI packages."""
    catalog = Catalog(project="gansu-health")
    for package in UI_PACKAGES:
        for filename, lineno, message, comments, context in extract_from_dir(
                SRC / package, METHODS, OPTIONS, KEYWORDS):
            catalog.add(message, None, [(f"{package}/{filename}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def main() -> int:
    """Update every catalogue under ui/locale from the extracted messages."""
    template = extract()
    for po in sorted((SRC / "ui" / "locale").glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as source:
            catalog = read_po(source)
        catalog.update(template, no_fuzzy_matching=True)
        with po.open("wb") as target:
            write_po(target, catalog, width=100, omit_header=False, ignore_obsolete=True)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{po}: {len(catalog)} messages, {len(missing)} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
