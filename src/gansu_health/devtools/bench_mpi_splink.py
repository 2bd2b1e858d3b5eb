"""Splink (DuckDB) baselines for the MPI benchmark, configured as in Splink's own examples."""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from gansu_health.devtools.bench_mpi_data import Dataset
from gansu_health.mpi.engine.linkage import Pair


def splink_available() -> bool:
    """Tell whether the optional bench extra (splink) is installed."""
    try:
        import splink  # noqa: F401
    except ImportError:
        return False
    return True


def _config(name: str) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(blocking rules, comparisons, deterministic rules, EM training rules) per data set."""
    import splink.comparison_library as cl
    from splink import block_on

    if name.startswith("febrl"):
        blocking = [
            block_on("first_name", "surname"), block_on("surname", "dob"),
            block_on("first_name", "dob"), block_on("postcode", "first_name"),
            block_on("soc_sec_id"), block_on("postcode", "dob"),
        ]  # fmt: skip
        comparisons = [
            cl.NameComparison("first_name"), cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
        ]  # fmt: skip
        deterministic = [block_on("soc_sec_id"), block_on("first_name", "surname", "dob")]
        training = [block_on("first_name", "surname"), block_on("dob")]
    elif name == "historical_50k":
        blocking = [
            block_on("first_name", "surname"), block_on("surname", "dob"),
            block_on("first_name", "dob"), block_on("postcode_fake", "first_name"),
            block_on("postcode_fake", "surname"),
        ]  # fmt: skip
        comparisons = [
            cl.ForenameSurnameComparison("first_name", "surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode_fake"),
            cl.ExactMatch("birth_place").configure(term_frequency_adjustments=True),
            cl.ExactMatch("occupation").configure(term_frequency_adjustments=True),
        ]  # fmt: skip
        deterministic = [
            block_on("first_name", "surname", "dob"),
            block_on("surname", "dob", "postcode_fake"),
        ]
        training = [block_on("first_name", "surname"), block_on("dob")]
    else:  # the synthetic Chinese set, on the engine's normalised columns
        blocking = [
            block_on("resident_id"), block_on("dob", "family_pinyin"), block_on("phone"),
            block_on("region", "dob"),
        ]  # fmt: skip
        comparisons = [
            cl.ExactMatch("resident_id"), cl.NameComparison("family_pinyin"),
            cl.NameComparison("given_pinyin"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("sex"), cl.ExactMatch("phone"), cl.ExactMatch("region"),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
        ]  # fmt: skip
        deterministic = [block_on("resident_id")]
        training = [block_on("dob", "family_pinyin"), block_on("phone")]
    return blocking, comparisons, deterministic, training


def _pandas(frame: Any) -> Any:
    return frame.as_pandas_dataframe()


def run_splink(dataset: Dataset, threshold: float = 0.5) -> dict[str, Any]:
    """Train (u by sampling, m by EM) and predict; returns pairs with p ≥ threshold and timings."""
    from splink import DuckDBAPI, Linker, SettingsCreator

    pd: Any = importlib.import_module("pandas")

    logging.getLogger("splink").setLevel(logging.ERROR)
    blocking, comparisons, deterministic, training = _config(dataset.name)
    started = time.perf_counter()
    db_api = DuckDBAPI()
    frame = pd.DataFrame(dataset.rows)
    index = {uid: i for i, uid in enumerate(frame["unique_id"])}
    if dataset.link:
        tables = [
            db_api.register(part.reset_index(drop=True))
            for _, part in frame.groupby("source_dataset")
        ]
    else:
        tables = [db_api.register(frame)]
    settings = SettingsCreator(
        link_type="link_only" if dataset.link else "dedupe_only",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
    )
    linker = Linker(tables if dataset.link else tables[0], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for rule in training:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    table = _pandas(predictions)
    pairs: dict[Pair, float] = {}
    for left, right, p in zip(
        table["unique_id_l"], table["unique_id_r"], table["match_probability"], strict=True
    ):
        i, j = index[left], index[right]
        pairs[(min(i, j), max(i, j))] = float(p)
    clusters: list[int] | None = None
    if dataset.cluster_f1:
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.95)
        result = _pandas(clustered)
        labels = dict(zip(result["unique_id"], result["cluster_id"], strict=True))
        names = {name: k for k, name in enumerate(sorted(set(map(str, labels.values()))))}
        clusters = [names[str(labels[uid])] for uid in frame["unique_id"]]
    finished = time.perf_counter()
    return {
        "scores": pairs,
        "predicted": {p for p, score in pairs.items() if score >= threshold},
        "clusters": clusters,
        "train_seconds": trained - started,
        "predict_seconds": finished - trained,
    }
