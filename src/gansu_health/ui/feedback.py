"""Errors shown to people: platform messages mapped to translatable, plain-language msgids."""

from __future__ import annotations

from gansu_health.core.errors import PlatformError, TooManyRequests
from gansu_health.identity.accounts.members import NO_MATCH
from gansu_health.ui.i18n import N_

BY_STATUS = {
    401: N_("The code or password is wrong or has expired. Please try again."),
    403: N_("You are not allowed to do this."),
    404: N_("Not found."),
    409: N_("This conflicts with what is already recorded."),
}
BY_EXPRESSION = {
    ("resident_id", 400): N_("This is not a valid 18-character resident ID number."),
    ("resident_id", 409): N_("This person is already linked to an account or a family list."),
    ("patient", 409): N_("This account is already bound to a resident."),
    ("name", 400): N_("Please enter the name on the ID card."),
    ("phone", 400): N_("Please enter an 11-digit mobile number."),
    ("phone", 422): N_("Please enter an 11-digit mobile number."),
    ("relationship", 400): N_("Please choose the relationship."),
    ("date", 409): N_("This clinic session is over or stopped."),
    ("reason", 400): N_("Please give a reason."),
    ("code", 400): N_("This is not an e-health card QR code."),
    ("code", 409): N_("This code was already used. Ask for a fresh code."),
    ("code", 422): N_("The code is expired, forged or of a revoked card. Ask for a fresh code."),
    ("Appointment", 422): N_("This cannot be done now: the time allowed has passed or not "
                             "yet begun."),
    ("Appointment", 409): N_("This booking is not in a state that allows it."),
    ("slot", 409): N_("No number is left at this time. Choose another time."),
    ("patient", 422): N_("This patient cannot book now (a limit is reached or booking is "
                         "suspended)."),
}
BY_MESSAGE = {NO_MATCH: N_("No registered resident has this ID number and name.")}


def error_msgid(exc: PlatformError) -> str:
    """A msgid describing ``exc`` for the person who caused it (their own words when unknown)."""
    if isinstance(exc, TooManyRequests):
        return N_("Too many attempts. Please wait a little and try again.")
    if exc.message in BY_MESSAGE:
        return BY_MESSAGE[exc.message]
    expression = exc.issues[0].expression if exc.issues else None
    if expression and (expression, exc.status) in BY_EXPRESSION:
        return BY_EXPRESSION[(expression, exc.status)]
    return BY_STATUS.get(exc.status, exc.message)
