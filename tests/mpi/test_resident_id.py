"""Tests for the GB 11643-1999 resident identity number."""

from __future__ import annotations

from datetime import date

import pytest

from gansu_health.demo.regions import gansu_region_codes, is_gansu_region
from gansu_health.mpi.resident_id import (
    RESIDENT_ID_SYSTEM,
    ResidentId,
    ResidentIdError,
    check_character,
    is_valid_resident_id,
    make_resident_id,
    parse_resident_id,
    upgrade_15_to_18,
)

TODAY = date(2025, 6, 30)
STANDARD_EXAMPLE = "11010519491231002X"  # the example printed in GB 11643-1999


def _with_check(first17: str) -> str:
    return first17 + check_character(first17)


def _field(value: str, **kwargs: object) -> str:
    with pytest.raises(ResidentIdError) as caught:
        parse_resident_id(value, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return caught.value.field


def test_system_is_the_national_oid() -> None:
    assert RESIDENT_ID_SYSTEM == "urn:oid:2.16.156.10011.1.3"


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("11010519491231002", "X"),
        ("44052418800101001", "4"),
        ("62010219800101001", "7"),  # 148 mod 11 = 5, worked by hand
        ("11010119900307387", "X"),  # 222 mod 11 = 2, worked by hand
    ],
)
def test_check_character(first17: str, expected: str) -> None:
    assert check_character(first17) == expected


def test_check_character_needs_17_digits() -> None:
    with pytest.raises(ResidentIdError):
        check_character("1101051949123100")
    with pytest.raises(ResidentIdError):
        check_character("1101051949123100A")


def test_parse_standard_example() -> None:
    parsed = parse_resident_id(STANDARD_EXAMPLE, today=TODAY)
    assert parsed == ResidentId(
        number=STANDARD_EXAMPLE,
        region_code="110105",
        birth_date=date(1949, 12, 31),
        sex="female",
        sequence="002",
    )
    assert parsed.age_on(date(2025, 12, 30)) == 75
    assert parsed.age_on(date(2025, 12, 31)) == 76


def test_parse_accepts_lower_case_x_and_spaces() -> None:
    assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == STANDARD_EXAMPLE


def test_parse_odd_sequence_is_male() -> None:
    number = _with_check("62010219800101001")
    assert parse_resident_id(number, today=TODAY).sex == "male"


@pytest.mark.parametrize(
    "value", ["", "1101051949123100", "11010519491231002", "11010519491231002X1"]
)
def test_wrong_length(value: str) -> None:
    assert _field(value) == "number"


@pytest.mark.parametrize(
    "value",
    [
        "1101051949123100AX",  # a letter before the check position
        "X10105194912310020",  # X anywhere but last
        "１１０１０５１９４９１２３１００２X",  # full-width digits
        "11010519491231-02X",
    ],
)
def test_wrong_characters(value: str) -> None:
    assert _field(value) == "number"


def test_bad_check_character() -> None:
    assert _field("110105194912310021") == "check_character"
    assert not is_valid_resident_id("110105194912310021", today=TODAY)
    assert is_valid_resident_id(STANDARD_EXAMPLE, today=TODAY)


@pytest.mark.parametrize(
    "first17",
    [
        "62010219800230001",  # 30 February
        "62010219801301001",  # month 13
        "62010219800100001",  # day 0
        "62010219010229001",  # 1901 is no leap year
    ],
)
def test_impossible_birth_date(first17: str) -> None:
    assert _field(_with_check(first17)) == "birth_date"


def test_leap_day_is_accepted() -> None:
    assert parse_resident_id(_with_check("62010220000229002"), today=TODAY).birth_date == date(
        2000, 2, 29
    )


def test_birth_date_in_the_future() -> None:
    future = _with_check("62010220250701002")
    assert _field(future) == "birth_date"
    assert parse_resident_id(future, today=date(2025, 7, 1)).birth_date == date(2025, 7, 1)


def test_birth_date_before_1900() -> None:
    assert _field("440524188001010014") == "birth_date"  # valid check, born 1880


def test_region_table_as_set() -> None:
    codes = set(gansu_region_codes())
    assert parse_resident_id(_with_check("62010219800101001"), regions=codes, today=TODAY)
    assert _field(STANDARD_EXAMPLE, regions=codes) == "region_code"
    assert _field(_with_check("62999919800101001"), regions=codes) == "region_code"


def test_region_table_as_callable() -> None:
    retired = _with_check("62210019800101001")  # 酒泉地区, retired in 2001
    assert parse_resident_id(retired, regions=is_gansu_region, today=TODAY).region_code == "622100"
    assert _field(retired, regions=gansu_region_codes().__contains__) == "region_code"


def test_error_is_a_value_error_with_a_field() -> None:
    error = ResidentIdError("birth_date", "bad")
    assert isinstance(error, ValueError)
    assert (error.field, error.message) == ("birth_date", "bad")
    assert "birth_date" in str(error)


def test_upgrade_15_to_18() -> None:
    assert upgrade_15_to_18("110105491231002") == STANDARD_EXAMPLE
    upgraded = upgrade_15_to_18("620102800101001")
    assert upgraded == _with_check("62010219800101001")
    assert is_valid_resident_id(upgraded, today=TODAY)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("11010549123100", "number"),
        ("1101054912310021", "number"),
        ("11010549123100A", "number"),
        ("110105491331002", "birth_date"),
        ("110105490230002", "birth_date"),
    ],
)
def test_upgrade_errors(value: str, field: str) -> None:
    with pytest.raises(ResidentIdError) as caught:
        upgrade_15_to_18(value)
    assert caught.value.field == field


def test_make_resident_id_round_trip() -> None:
    number = make_resident_id("623001", date(1990, 3, 7), 17, "male")
    parsed = parse_resident_id(number, regions=is_gansu_region, today=TODAY)
    assert (parsed.region_code, parsed.birth_date, parsed.sex, parsed.sequence) == (
        "623001",
        date(1990, 3, 7),
        "male",
        "017",
    )
    assert make_resident_id("110105", date(1949, 12, 31), 2, "female") == STANDARD_EXAMPLE


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("620102", date(1980, 1, 1), 2, "male"), "sequence"),
        (("620102", date(1980, 1, 1), 1, "female"), "sequence"),
        (("620102", date(1980, 1, 1), 1000, "female"), "sequence"),
        (("620102", date(1980, 1, 1), -1, "male"), "sequence"),
        (("62010", date(1980, 1, 1), 1, "male"), "region_code"),
        (("62010A", date(1980, 1, 1), 1, "male"), "region_code"),
        (("620102", date(1899, 12, 31), 1, "male"), "birth_date"),
    ],
)
def test_make_resident_id_errors(args: tuple[str, date, int, str], field: str) -> None:
    with pytest.raises(ResidentIdError) as caught:
        make_resident_id(*args)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_gansu_region_table() -> None:
    table = gansu_region_codes()
    assert table["620000"] == "甘肃省"
    assert table["622900"] == "临夏回族自治州"
    assert table["623000"] == "甘南藏族自治州"
    assert len([code for code in table if code.endswith("00") and code != "620000"]) == 14
    assert all(code.startswith("62") and len(code) == 6 for code in table)
    assert "622100" not in table and is_gansu_region("622100")
