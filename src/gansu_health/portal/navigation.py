"""The citizen app's navigation bar and the entries of its home page."""

from __future__ import annotations

from gansu_health.ui.i18n import N_
from gansu_health.ui.navigation import NavItem

NAV = (
    NavItem("/", N_("Home"), "⌂"),
    NavItem("/hospitals", N_("Hospitals"), "✚"),
    NavItem("/appointments", N_("Appointments"), "◷"),
    NavItem("/records", N_("My records"), "▤"),
    NavItem("/me", N_("Me"), "☺"),
)
HOME_TILES = (
    NavItem("/book", N_("Book an appointment"), "◷",
            N_("Pick a day, a department and a doctor; pay online")),
    NavItem("/card", N_("E-health card"), "▣", N_("Show the QR code at the hospital")),
    NavItem("/appointments", N_("My appointments"), "☰",
            N_("Check-in status, waiting room, cancel")),
    NavItem("/inbox", N_("Messages"), "✉", N_("Confirmations, reminders, refunds")),
    NavItem("/hospitals", N_("Find a hospital"), "✚",
            N_("By city, level, department or doctor")),
    NavItem("/records", N_("My health records"), "▤",
            N_("Visits, diagnoses, results, vaccines, prescriptions")),
    NavItem("/records/access-log", N_("Who looked at my record"), "◉",
            N_("Every access to your record is logged")),
    NavItem("/me", N_("Family members"), "☺", N_("Add your child or parents")),
    NavItem("/articles", N_("Health education"), "✎", N_("Reliable advice from doctors")),
)
