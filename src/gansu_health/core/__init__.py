"""Cross-cutting foundations: settings, database, errors, clock."""
