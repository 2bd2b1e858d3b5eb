"""Score a pair of records: Fellegi–Sunter weights, term-frequency adjustment and safety rules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

from gansu_health.mpi.engine.compare import (
    BIRTH,
    FAMILY,
    GIVEN,
    ID_DIFFERENT_VALID,
    ID_EXACT,
    N_DIFFERENT,
    N_EXACT,
    N_PARTIAL,
    NULL,
    RID,
    SEX,
    Levels,
    compare_levels,
    level_names,
    pattern_weight,
)
from gansu_health.mpi.engine.features import Features
from gansu_health.mpi.engine.model import MatchModel, TermFrequencies

BORN_YEAR, BORN_DIFFERENT = 2, 3
GRADES = ("certain", "probable", "possible", "certainly-not")
_MAX_WEIGHT = 1000.0


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Posterior probability, total log2 Bayes factor, FHIR match grade and per-field levels."""

    score: float
    weight: float
    grade: str
    levels: dict[str, str]


@dataclass(frozen=True)
class Thresholds:
    """Lower bounds on the score for each grade."""

    certain: float = 0.999
    probable: float = 0.95
    possible: float = 0.2

    def grade(self, score: float) -> str:
        """Grade a score."""
        if score >= self.certain:
            return "certain"
        if score >= self.probable:
            return "probable"
        return "possible" if score >= self.possible else "certainly-not"


@cache
def _shipped_model() -> str:
    return resources.files("gansu_health.mpi.engine").joinpath("data/model.json").read_text("utf-8")


def _cap(grade: str, ceiling: str) -> str:
    return GRADES[max(GRADES.index(grade), GRADES.index(ceiling))]


class Matcher:
    """Compare Features with a MatchModel; the service feeds registry counts to term_frequencies."""

    def __init__(
        self, model: MatchModel | None = None, thresholds: Thresholds | None = None
    ) -> None:
        self.model = model if model is not None else MatchModel.from_json(_shipped_model())
        self.thresholds = thresholds or Thresholds()
        self._factors = self.model.log2_factors()
        self._prior = math.log2(self.model.prior / (1.0 - self.model.prior))
        self._tf_u = {FAMILY: self.model.u["family"][0], GIVEN: self.model.u["given"][0]}

    @classmethod
    def default(cls) -> Matcher:
        """The matcher with the model shipped in the package (EM on the synthetic population)."""
        return cls()

    @property
    def term_frequencies(self) -> TermFrequencies:
        """Surname and given-name counts; call observe() or set_counts() to feed the registry's."""
        return self.model.term_frequencies

    def weight_of(self, a: Features, b: Features, levels: Levels) -> float:
        """Total log2 Bayes factor including the prior and the term-frequency adjustment."""
        weight = self._prior + pattern_weight(levels, self._factors)
        tf = self.model.term_frequencies
        for index, name, value in ((FAMILY, "family", a.family), (GIVEN, "given", a.given)):
            if levels[index] == N_EXACT and value == getattr(b, name):
                frequency = tf.frequency(name, value)
                if frequency is not None:
                    weight += math.log2(self._tf_u[index] / frequency)
        return weight

    def grade_of(self, score: float, levels: Levels, a: Features, b: Features) -> str:
        """Grade a score, then apply the safety rules on resident IDs, birth date, sex and name."""
        grade = self.thresholds.grade(score)
        rid, born, sex, given = levels[RID], levels[BIRTH], levels[SEX], levels[GIVEN]
        same_valid_id = rid == ID_EXACT and a.resident_id_valid
        if rid == ID_DIFFERENT_VALID:
            return _cap(grade, "possible")
        if same_valid_id and born == 0 and sex != 1 and _compatible_name(levels):
            return "certain"
        if same_valid_id and (born not in (0, NULL) or sex == 1):
            return _cap(grade, "possible")
        weak_name = given in (N_PARTIAL, N_DIFFERENT)
        if not same_valid_id and (weak_name or born in (BORN_YEAR, BORN_DIFFERENT)):
            return _cap(grade, "probable")
        return grade

    def compare(self, a: Features, b: Features) -> MatchResult:
        """Score one pair of records."""
        levels = compare_levels(a, b)
        weight = self.weight_of(a, b, levels)
        score = 1.0 / (1.0 + 2.0 ** -max(-_MAX_WEIGHT, min(_MAX_WEIGHT, weight)))
        grade = self.grade_of(score, levels, a, b)
        if grade == "certain":
            score = max(score, self.thresholds.certain)
        return MatchResult(score, weight, grade, level_names(levels))


def _compatible_name(levels: Levels) -> bool:
    return N_DIFFERENT not in (levels[FAMILY], levels[GIVEN])
