"""No summary sentence contradicts its numbers, over every diff of the demo and of the evaluation.

A CX lead reads the words ("worsened", "improved", "severity 83→81") and acts on them; the words
must agree with the numbers stored beside them: a worsened or new barrier rose (in the direction
that is worse for it), an improved or resolved one fell, the severity arrows point the same way,
the effect's interval holds the difference, and the summary quotes the entry's own numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cjm_tasks.versions.diff import FLAGGED
from cjm_tasks.versions.wording import measure_text, stage_label
from cjm_tasks.run.pipeline import open_version_store, store_maps

UP = {"new", "returned", "worsened"}
DOWN = {"improved", "resolved"}


def contradictions(diff: dict) -> list[str]:
    """Every place where ``diff``'s words disagree with its numbers (empty when none)."""
    found = []
    summary = diff["summary"]
    flagged = [b for b in diff["barriers"] if b["flagged"]]
    if flagged and "no significant change" in summary:
        found.append("flagged changes but the summary says no significant change")
    for b in diff["barriers"]:
        where = f"{diff['persona']} {diff.get('to')} {b['id']} ({b['status']})"
        if b["flagged"] != (b["status"] in FLAGGED):
            found.append(f"{where}: flagged={b['flagged']} does not match the status")
        if diff.get("from") is None and diff.get("from_period") is None:
            continue  # a first version: nothing to compare
        if b["status"] not in UP | DOWN:
            if b["flagged"] or (b["title"] in summary and f"{b['title']} {b['status']}" in summary):
                found.append(f"{where}: not a change but worded as one")
            continue
        before = b["value_from"] if b["value_from"] is not None else 0.0
        after = b["value_to"] if b["value_to"] is not None else 0.0
        rose = after > before
        worse = rose if b["worse_when"] == "higher" else not rose
        if after == before or worse != (b["status"] in UP):
            found.append(f"{where}: {before} -> {after} ({b['worse_when']} is worse)")
        effect = b.get("effect") or {}
        if effect.get("difference") is not None:
            if (effect["difference"] > 0) != rose:
                found.append(f"{where}: effect {effect['difference']} against {before} -> {after}")
            if effect.get("low") is not None and not effect["low"] <= effect["difference"] <= effect["high"]:
                found.append(f"{where}: interval {effect['low']}..{effect['high']} misses {effect['difference']}")
            if effect.get("low") is not None and b["kind"] != "metric" and effect["low"] <= 0 <= effect["high"]:
                found.append(f"{where}: flagged although the interval holds zero")
        if b["severity_from"] is not None and b["severity_to"] is not None:
            if (b["status"] in UP and b["severity_to"] < b["severity_from"]) or (b["status"] in DOWN and b["severity_to"] > b["severity_from"]):
                found.append(f"{where}: severity {b['severity_from']} -> {b['severity_to']}")
        sentence = f"{VERB[b['status']]}"
        text = measure_text(b, diff.get("unit", "customers"))
        if text not in summary or sentence not in summary or stage_label(diff, b["stage"]) not in summary:
            found.append(f"{where}: the summary does not state {sentence!r} with {text!r}")
    for m in diff.get("metrics", []):
        if m["flagged"] and m.get("change"):
            rose = m["to"] > m["from"]
            if (m["change"] == "worse") != (rose == (m["better"] == "lower")):
                found.append(f"{diff['persona']} {m['stage']} {m['metric']}: {m['from']} -> {m['to']} called {m['change']}")
    return found


VERB = {"worsened": "worsened", "new": "appeared", "returned": "returned", "improved": "improved", "resolved": "was resolved"}


def test_the_checker_catches_a_contradiction():
    diff = {"persona": "p", "to": "b", "from": "a", "from_period": "2025Q1", "unit": "customers", "stage_names": {"purchase": "Purchase"},
            "metrics": [], "barriers": [{"id": "queues", "title": "Long queues", "kind": "catalog", "stage": "purchase", "status": "worsened",
                                         "flagged": True, "worse_when": "higher", "value_from": 0.3, "value_to": 0.2, "severity_from": 83,
                                         "severity_to": 81, "effect": {"difference": -0.1, "low": -0.12, "high": -0.08},
                                         "evidence_from": None, "evidence_to": None}],
            "summary": "p, b vs a: barrier Long queues worsened at Purchase (severity 83→81)."}
    problems = contradictions(diff)
    assert any("0.3 -> 0.2" in p for p in problems) and any("severity 83 -> 81" in p for p in problems)
    assert any("does not state" in p for p in problems)


def test_no_summary_of_the_demo_contradicts_its_numbers(sample_maps, sample_config):
    for period in sorted(sample_maps):
        store_maps(sample_config, sample_maps[period])
    store = open_version_store(sample_config)
    diffs = [store.read_diff(v) for persona in store.personas() for v in store.list(persona)]
    assert len(diffs) == 5 * 4 and sum(b["flagged"] for d in diffs for b in d["barriers"]) >= 10
    problems = [p for d in diffs for p in contradictions(d)]
    assert problems == []


@pytest.fixture(scope="module")
def evaluation_diffs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    from cjm_demo.evaluation_data import collect_diffs, generate, load_evaluation_config, run_pipeline

    root = tmp_path_factory.mktemp("evaluation")
    generate(root / "data", seed=3, scale=0.5)
    run_pipeline(root / "data", root / "store")
    return collect_diffs(load_evaluation_config(root / "data", root / "store"))


def test_no_summary_of_the_independent_evaluation_contradicts_its_numbers(evaluation_diffs):
    diffs = [d["diff"] for d in evaluation_diffs]
    assert len(diffs) >= 3 * 4 and sum(b["flagged"] for d in diffs for b in d["barriers"]) >= 5
    problems = [p for d in diffs for p in contradictions(d)]
    assert problems == [], json.dumps(problems[:10], ensure_ascii=False)
