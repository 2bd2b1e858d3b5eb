"""The 18-character citizen identity number of GB 11643-1999 (公民身份号码)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Literal

RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"

Sex = Literal["male", "female"]
RegionTable = Callable[[str], bool] | Collection[str]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)
_ID18 = re.compile(r"\d{17}[\dX]")
_ID15 = re.compile(r"\d{15}")


class ResidentIdError(ValueError):
    """A resident identity number that is malformed, inconsistent or unknown."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ResidentId:
    """The parts of a valid 18-character resident identity number."""

    number: str
    region_code: str
    birth_date: date
    sex: Sex
    sequence: str

    def age_on(self, day: date) -> int:
        """Return the age in completed years on ``day``."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


def check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ResidentIdError("number", "expected exactly 17 digits before the check character")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def sex_from_sequence(sequence: str) -> Sex:
    """Return the sex encoded by the parity of a 3-digit sequence code (odd = male)."""
    return "male" if int(sequence[-1]) % 2 == 1 else "female"


def _normalise(value: str) -> str:
    return value.strip().upper()


def _birth_date(digits: str, today: date) -> date:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ResidentIdError("birth_date", f"{digits} is not a calendar date") from None
    if born < _EARLIEST_BIRTH:
        raise ResidentIdError("birth_date", f"{born.isoformat()} is before 1900")
    if born > today:
        raise ResidentIdError("birth_date", f"{born.isoformat()} is in the future")
    return born


def _region_known(code: str, regions: RegionTable) -> bool:
    if callable(regions):
        return regions(code)
    return code in regions


def parse_resident_id(
    value: str, *, regions: RegionTable | None = None, today: date | None = None
) -> ResidentId:
    """Validate an 18-character resident identity number and split it into its parts."""
    number = _normalise(value)
    if len(number) != 18:
        raise ResidentIdError("number", f"expected 18 characters, got {len(number)}")
    if not number.isascii() or _ID18.fullmatch(number) is None:
        raise ResidentIdError("number", "expected 17 digits followed by a digit or X")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise ResidentIdError(
            "check_character", f"check character is {number[17]}, expected {expected}"
        )
    region_code = number[:6]
    if regions is not None and not _region_known(region_code, regions):
        raise ResidentIdError("region_code", f"unknown administrative division {region_code}")
    born = _birth_date(number[6:14], today or date.today())
    sequence = number[14:17]
    return ResidentId(number, region_code, born, sex_from_sequence(sequence), sequence)


def is_valid_resident_id(
    value: str, *, regions: RegionTable | None = None, today: date | None = None
) -> bool:
    """Tell whether ``value`` is a valid 18-character resident identity number."""
    try:
        parse_resident_id(value, regions=regions, today=today)
    except ResidentIdError:
        return False
    return True


def upgrade_15_to_18(value: str, *, today: date | None = None) -> str:
    """Convert a 15-digit GB 11643-1989 number by inserting the century 19 and a check digit."""
    old = value.strip()
    if not old.isascii() or _ID15.fullmatch(old) is None:
        raise ResidentIdError("number", "expected exactly 15 digits")
    first17 = f"{old[:6]}19{old[6:]}"
    _birth_date(first17[6:14], today or date.today())
    return first17 + check_character(first17)


def make_resident_id(region_code: str, birth_date: date, sequence: int, sex: Sex) -> str:
    """Build a valid number; ``sequence`` is the 3-digit order code, odd for men, even for women."""
    if len(region_code) != 6 or not region_code.isascii() or not region_code.isdigit():
        raise ResidentIdError("region_code", "expected 6 digits")
    if not 0 <= sequence <= 999:
        raise ResidentIdError("sequence", "expected a number from 0 to 999")
    code = f"{sequence:03d}"
    if sex_from_sequence(code) != sex:
        raise ResidentIdError("sequence", f"sequence {code} does not encode sex {sex}")
    if birth_date < _EARLIEST_BIRTH:
        raise ResidentIdError("birth_date", f"{birth_date.isoformat()} is before 1900")
    first17 = f"{region_code}{birth_date:%Y%m%d}{code}"
    return first17 + check_character(first17)
