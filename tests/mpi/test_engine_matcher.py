"""Grades of hand-made pairs, EM training, model JSON and synthetic accuracy."""

from __future__ import annotations

import time
from datetime import date

import pytest

from gansu_health.mpi.engine import (
    FIELDS,
    Features,
    Matcher,
    MatchModel,
    Thresholds,
    features_from_patient,
    make_features,
    train_em,
)
from gansu_health.mpi.engine.linkage import grade_report
from gansu_health.mpi.engine.synthetic import generate_population
from gansu_health.mpi.resident_id import make_resident_id

BORN = date(1985, 3, 9)
ID_A = make_resident_id("620102", BORN, 101, "male")
ID_B = make_resident_id("620102", BORN, 103, "male")
ADDRESS = "甘肃省兰州市城关区人民路12号3单元502室"


def person(**changes: object) -> Features:
    values: dict[str, object] = {
        "family": "王", "given": "建伟", "birth_date": BORN, "sex": "male",
        "phone": "13912345678", "resident_id": ID_A, "address": ADDRESS,
    }  # fmt: skip
    values.update(changes)
    return make_features(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.default()


def test_identical_valid_id_is_certain(matcher: Matcher) -> None:
    result = matcher.compare(person(), person(phone="13800000000", address=None, given="建玮"))
    assert result.grade == "certain"
    assert result.levels["resident_id"] == "exact"


def test_homophone_without_id_is_still_a_candidate(matcher: Matcher) -> None:
    a, b = person(resident_id=None), person(resident_id=None, given="剑伟", phone=None)
    result = matcher.compare(a, b)
    assert result.levels["given"] == "pinyin"
    assert result.grade in ("certain", "probable", "possible")


def test_different_valid_ids_never_certain_or_probable(matcher: Matcher) -> None:
    result = matcher.compare(person(), person(resident_id=ID_B))
    assert result.levels["resident_id"] == "different_valid"
    assert result.grade in ("possible", "certainly-not")


def test_twins_are_not_certain(matcher: Matcher) -> None:
    twin_a = person(resident_id=None, given="大伟", birth_date=date(2019, 4, 1))
    twin_b = person(resident_id=None, given="小丽", birth_date=date(2019, 4, 1))
    assert matcher.compare(twin_a, twin_b).grade != "certain"
    same_sex = person(resident_id=None, given="二伟", birth_date=date(2019, 4, 1))
    assert matcher.compare(twin_a, same_sex).grade != "certain"


def test_relative_id_on_wrong_record_is_not_certain(matcher: Matcher) -> None:
    father = person()
    son = person(given="小龙", birth_date=date(2010, 1, 2))  # the father's ID typed on it
    assert matcher.compare(father, son).grade in ("possible", "certainly-not")


def test_unrelated_people_are_certainly_not(matcher: Matcher) -> None:
    other = make_features(family="李", given="娟", birth_date=date(1990, 1, 1), sex="female")
    assert matcher.compare(person(), other).grade == "certainly-not"


def test_result_shape_thresholds_and_speed(matcher: Matcher) -> None:
    a, b = person(), person(resident_id=None, given="建玮", phone="13912345679")
    result = matcher.compare(a, b)
    assert 0.0 <= result.score <= 1.0 and set(result.levels) == set(FIELDS)
    strict = Matcher(matcher.model, Thresholds(certain=1.1, probable=1.1, possible=1.1))
    assert strict.compare(person(resident_id=None), b).grade == "certainly-not"
    started = time.perf_counter()
    for _ in range(2000):
        matcher.compare(a, b)
    assert (time.perf_counter() - started) / 2000 < 1e-4


def test_term_frequencies_make_common_names_weigh_less(matcher: Matcher) -> None:
    rare = Matcher(MatchModel.from_json(matcher.model.to_json()))
    rare.term_frequencies.set_counts("given", {"建伟": 5000, "骁": 1}, total=100_000)
    a, b = person(resident_id=None, phone=None), person(resident_id=None, phone=None)
    common = rare.compare(a, b).weight
    c, d = (
        person(resident_id=None, phone=None, given="骁"),
        person(resident_id=None, phone=None, given="骁"),
    )
    assert rare.compare(c, d).weight > common


@pytest.fixture(scope="module")
def population() -> tuple[list[Features], list[str]]:
    records = generate_population(2000, seed=7)
    return [features_from_patient(r.patient) for r in records], [r.person_id for r in records]


def test_em_converges_and_model_round_trips(population: tuple[list[Features], list[str]]) -> None:
    records, _ = population
    model = train_em(records, max_iter=50, u_sample=20_000, version="test")
    assert model.meta["em_iterations"] < 50
    assert model.m["resident_id"][0] > 0.9 and model.u["resident_id"][0] < 1e-3
    assert model.m["birth_date"][0] > 0.9 and 0 < model.prior < 1e-3
    again = MatchModel.from_json(model.to_json())
    assert again.m == model.m and again.u == model.u and again.version == "test"
    assert again.term_frequencies.frequency("family", "王") == model.term_frequencies.frequency(
        "family", "王"
    )


def test_synthetic_accuracy(matcher: Matcher, population: tuple[list[Features], list[str]]) -> None:
    records, entities = population
    report = grade_report(records, entities, matcher)
    assert report.pair_completeness >= 0.99
    assert report.certain.precision >= 0.999
    assert report.any_grade.recall >= 0.99
    assert report.review_share <= 0.03
