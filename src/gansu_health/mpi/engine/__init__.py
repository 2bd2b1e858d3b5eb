"""MPI matching engine: features, blocking, Fellegi–Sunter scoring with EM training."""

from gansu_health.mpi.engine.compare import FIELDS, LEVELS, compare_levels
from gansu_health.mpi.engine.features import (
    Features,
    blocking_keys,
    features_from_patient,
    make_features,
)
from gansu_health.mpi.engine.linkage import candidate_pairs, clusters, pair_metrics
from gansu_health.mpi.engine.matcher import GRADES, Matcher, MatchResult, Thresholds
from gansu_health.mpi.engine.model import MatchModel, TermFrequencies
from gansu_health.mpi.engine.train import train_em

__all__ = [
    "FIELDS",
    "GRADES",
    "LEVELS",
    "Features",
    "MatchModel",
    "MatchResult",
    "Matcher",
    "TermFrequencies",
    "Thresholds",
    "blocking_keys",
    "candidate_pairs",
    "clusters",
    "compare_levels",
    "features_from_patient",
    "make_features",
    "pair_metrics",
    "train_em",
]
