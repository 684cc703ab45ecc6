"""The independent evaluation data: deterministic, valid for the gate, mostly out of the catalog's
reach, with a truth that agrees with itself; and the scorer reading both diff contracts.

Small scale (0.2: ~300-480 active customers per persona and quarter) keeps the module within
about half a minute; ``benchmarks/eval_changes.py`` runs the full evaluation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cjm_demo.evaluation_data import (
    CATALOG_TOPICS,
    DIRECTION,
    TOPICS,
    UNCATALOGUED_TOPICS,
    file_hashes,
    generate,
    keyword_coverage,
    load_evaluation_config,
    read_truth,
    sample_complaints,
    score,
    size_class,
)
from cjm_tasks.maps.text_features import catalog_matcher
from cjm_tasks.periods import Period
from cjm_tasks.run.pipeline import read_and_validate

SCALE = 0.2


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[int, Path]:
    """Seed 0 (wide survey export) and seed 1 (long export), generated once for the module."""
    root = tmp_path_factory.mktemp("evaluation")
    return {seed: generate(root / f"seed-{seed}", seed, SCALE).folder for seed in (0, 1)}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_differs(worlds, tmp_path):
    first = file_hashes(worlds[0])
    assert file_hashes(generate(tmp_path / "again", 0, SCALE).folder) == first
    other = file_hashes(generate(tmp_path / "other", 2, SCALE).folder)  # same survey shape as seed 0
    assert set(other) == set(first)
    assert all(other[name] != first[name] for name in first)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_quarter_passes_the_validation_gate(worlds, seed, tmp_path):
    config = load_evaluation_config(worlds[seed], tmp_path / "store")
    for period in read_truth(worlds[seed])["periods"]:
        outcome = read_and_validate(config, Period.parse(period), raise_on_failure=False)
        failed = [c for r in outcome.result.sources.values() for c in r.checks if not c.success]
        assert outcome.result.success, f"{period}: {failed}"


def test_most_complaints_use_none_of_the_catalog_keywords(worlds, tmp_path):
    config = load_evaluation_config(worlds[0], tmp_path / "store")
    matcher = catalog_matcher(config, word_forms=False, similarity=False)  # the keywords as written
    for topic in CATALOG_TOPICS:
        texts = sample_complaints(topic.key, 400, seed=3)
        matched = set(matcher.match(pd.Series(texts))["row"])
        assert 1 - len(matched) / len(texts) >= 0.5, topic.key
    # The same holds for the texts of a whole world, barrier by barrier (where there are enough).
    coverage = keyword_coverage(worlds[0], config)
    for topic in CATALOG_TOPICS:
        if coverage.get(topic.key, {}).get("texts", 0) >= 100:
            assert coverage[topic.key]["keyword_free"] >= 0.5, (topic.key, coverage[topic.key])
    for topic in UNCATALOGUED_TOPICS:
        assert coverage[topic.key]["own_barrier"] == 0


def _recomputed_changes(truth: dict) -> set[tuple]:
    """The changes read off the prevalences, written out independently of the generator."""
    periods = truth["periods"]
    found = set()
    for persona in truth["personas"]:
        for key in truth["barriers"]:
            values = [truth["prevalence"][p][persona][key] for p in periods]
            for j in range(1, len(values)):
                before, after = values[j - 1], values[j]
                if before == after:
                    continue
                if before == 0:
                    kind = "returned" if any(v > 0 for v in values[: j - 1]) else "new"
                else:
                    kind = "resolved" if after == 0 else ("worsened" if after > before else "improved")
                ratio = max(before, after) / min(before, after) if min(before, after) else float("inf")
                size = "large" if ratio >= 2 or abs(after - before) >= 0.1 - 1e-9 else "near_limit"
                found.add((periods[j - 1], periods[j], persona, key, kind, size))
    return found


@pytest.mark.parametrize("seed", [0, 1])
def test_the_truth_agrees_with_itself(worlds, seed):
    truth = read_truth(worlds[seed])
    listed = {(c["from"], c["to"], c["persona"], c["barrier"], c["type"], c["size"]) for c in truth["changes"]}
    assert listed == _recomputed_changes(truth)
    assert {t.key for t in TOPICS} == set(truth["barriers"])
    # One noise-only pair: every prevalence equal on both sides, and no change listed in it.
    (noise,) = truth["noise_only_pairs"]
    assert all(truth["prevalence"][noise[0]][p] == truth["prevalence"][noise[1]][p] for p in truth["personas"])
    assert not [c for c in truth["changes"] if [c["from"], c["to"]] == noise]
    # Every kind of change and both sizes are planted, for catalog barriers and uncatalogued topics.
    kinds = {c["type"] for c in truth["changes"] if c["kind"] == "catalog"}
    assert kinds == set(DIRECTION)
    assert {c["size"] for c in truth["changes"]} == {"large", "near_limit"}
    assert {c["barrier"] for c in truth["changes"] if c["kind"] == "uncatalogued"} >= {UNCATALOGUED_TOPICS[0].key}
    # Most (persona, barrier) cells stay put in most pairs.
    cells = len(truth["personas"]) * len(truth["barriers"]) * len(truth["pairs"])
    assert len(truth["changes"]) < 0.2 * cells
    for period, personas in truth["counts"].items():
        for persona, counts in personas.items():
            assert 0 < counts["customers_with_text"] <= counts["customers_with_any_text"] <= counts["active_customers"]
            assert all(counts["wrote"][k] <= counts["met"][k] for k in counts["met"])


def test_size_classes_follow_the_definition():
    assert size_class(0.04, 0.12) == "large" and size_class(0.15, 0.30) == "large" and size_class(0.20, 0.08) == "large"
    assert size_class(0.05, 0.08) == "near_limit" and size_class(0.06, 0.04) == "near_limit"
    assert size_class(0.0, 0.04) == "large" and size_class(0.10, 0.20) == "large"


def _truth() -> dict:
    periods = ["2024Q1", "2024Q2", "2024Q3"]
    prevalence = {"2024Q1": {"p": {"queues": 0.10, "late_delivery": 0.05, "uncatalogued:parking": 0.003}},
                  "2024Q2": {"p": {"queues": 0.10, "late_delivery": 0.12, "uncatalogued:parking": 0.021}},
                  "2024Q3": {"p": {"queues": 0.10, "late_delivery": 0.12, "uncatalogued:parking": 0.021}}}
    counts = {p: {"p": {"customers_with_text": 400}} for p in periods}
    return {"seed": 7, "survey_shape": "wide", "periods": periods, "prevalence": prevalence, "counts": counts,
            "pairs": [{"from": "2024Q1", "to": "2024Q2", "noise_only": False}, {"from": "2024Q2", "to": "2024Q3", "noise_only": True}]}


def test_score_reads_both_diff_contracts():
    # The newer contract: emerging themes among the barriers, flagged like any other.
    newer = [{"persona": "p", "period": "2024Q2", "diff": {"from_period": "2024Q1", "barriers": [
        {"id": "late_delivery", "kind": "catalog", "status": "worsened", "flagged": True},
        {"id": "queues", "kind": "catalog", "status": "improved", "flagged": True},
        {"id": "low_csat.purchase", "kind": "metric", "status": "new", "flagged": True},
        {"id": "emerging-1", "kind": "emerging", "status": "new", "flagged": True, "phrases": ["parking lot", "lot full"]}]}},
        {"persona": "p", "period": "2024Q3", "diff": {"from_period": "2024Q2", "barriers": [
            {"id": "queues", "kind": "catalog", "status": "too_few", "flagged": False},
            {"id": "late_delivery", "kind": "catalog", "status": "unchanged", "flagged": False}]}}]
    scored = score(_truth(), newer)
    units = {(u["to"], u["barrier"]): u for u in scored["units"]}
    assert units[("2024Q2", "late_delivery")]["right_direction"] and units[("2024Q2", "late_delivery")]["exact"]
    assert units[("2024Q2", "queues")]["flagged"] and units[("2024Q2", "queues")]["truth_type"] is None
    parking = units[("2024Q2", "uncatalogued:parking")]
    assert parking["kind"] == "emerging" and parking["right_direction"] and not parking["exact"]
    assert [m["id"] for m in scored["metric"]] == ["low_csat.purchase"]
    # Noise-only pair: too_few is not tested; the unchanged entry is.
    assert [(n["barrier"], n["flagged"]) for n in scored["noise"]] == [("late_delivery", False)]

    # The older contract: emerging themes listed apart (appeared / gone), never flagged.
    older = [{"persona": "p", "period": "2024Q2", "diff": {"from": "2024Q1-r1", "barriers": [
        {"id": "late_delivery", "kind": "catalog", "status": "new", "flagged": True}],
        "emerging": [{"id": "emerging-1", "title": "parking lot", "status": "appeared"}]}}]
    units = {u["barrier"]: u for u in score(_truth(), older)["units"]}
    assert units["late_delivery"]["right_direction"] and not units["late_delivery"]["exact"]
    assert not units["uncatalogued:parking"]["flagged"] and units["uncatalogued:parking"]["listed_direction"]
