"""The diff: its statistics, its classification, and the planted changes of the sample data."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from scipy import stats

from cjm_tasks.config import DiffConfig
from cjm_tasks.versions.diff import diff_maps
from cjm_tasks.versions.stats import benjamini_hochberg, means_p, two_proportion_p
from cjm_tasks.versions.wording import to_markdown

CONFIG = DiffConfig()


def test_two_proportion_uses_z_for_large_and_fisher_for_small_counts():
    # Large counts: the pooled z-test, computed here by hand.
    x1, n1, x2, n2 = 30, 400, 60, 400
    pooled = (x1 + x2) / (n1 + n2)
    z = (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (2 / 400))
    assert two_proportion_p(x1, n1, x2, n2) == pytest.approx(2 * stats.norm.sf(z))
    # Small counts: Fisher's exact test.
    assert two_proportion_p(1, 20, 6, 20) == pytest.approx(stats.fisher_exact([[1, 19], [6, 14]]).pvalue)
    assert two_proportion_p(5, 100, 5, 100) == pytest.approx(1.0)
    assert two_proportion_p(1, 0, 1, 10) is None


def test_means_p_recovers_the_standard_deviation_from_the_interval():
    n1, m1, sd1, n2, m2, sd2 = 40, 3.8, 1.1, 50, 3.2, 1.3
    ci = lambda m, sd, n: [m - stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n), m + stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)]
    want = stats.ttest_ind_from_stats(m1, sd1, n1, m2, sd2, n2, equal_var=False).pvalue
    assert means_p(m1, ci(m1, sd1, n1), n1, m2, ci(m2, sd2, n2), n2) == pytest.approx(want)
    assert means_p(3.0, None, 1, 3.5, [3, 4], 10) is None


def test_benjamini_hochberg_matches_the_textbook_procedure():
    p = [0.01, 0.04, 0.03, 0.005, None, 0.2]
    q = benjamini_hochberg(p)
    tested = sorted((v, i) for i, v in enumerate(p) if v is not None)
    m = len(tested)
    expected = {}
    running = 1.0
    for rank in range(m, 0, -1):
        value, i = tested[rank - 1]
        running = min(running, value * m / rank)
        expected[i] = running
    assert q[4] is None
    assert [q[i] for i in sorted(expected)] == pytest.approx([expected[i] for i in sorted(expected)])
    assert q[3] == pytest.approx(0.005 * 5 / 1) and q[5] == pytest.approx(0.2)


def _planted(sample_data: Path):
    truth = json.loads((sample_data / "ground_truth.json").read_text())
    return truth, {(c["from"], c["to"], c["persona"], c["barrier"], c["change"]) for c in truth["changes"]}


def test_flagged_changes_match_the_planted_ones_through_the_store(sample_keyword_maps, sample_keyword_config, sample_data: Path):
    """An integration check of the diff through the store, on the keyword path: the planted
    changes are changes in keyword-written complaints (conftest.sample_keyword_config)."""
    from cjm_tasks.run.pipeline import open_version_store, store_maps

    for period in sorted(sample_keyword_maps):
        store_maps(sample_keyword_config, sample_keyword_maps[period])
    store = open_version_store(sample_keyword_config)
    truth, planted = _planted(sample_data)
    flagged = set()
    for persona in truth["personas"]:
        for version in store.list(persona):
            diff = store.read_diff(version)
            if diff["from"] is None:
                assert all(b["status"] == "new" for b in diff["barriers"])
                continue
            flagged |= {(diff["from"].split("-")[0], diff["to"].split("-")[0], persona, b["id"], b["status"]) for b in diff["barriers"] if b["flagged"]}
    tp = len(planted & flagged)
    precision, recall = tp / max(1, len(flagged)), tp / len(planted)
    print(f"diff vs planted changes: precision {precision:.3f}, recall {recall:.3f} ({tp} of {len(planted)} planted, {len(flagged)} flagged)")
    assert len(planted) >= 6
    assert precision >= 0.9 and recall >= 0.9, (sorted(flagged - planted), sorted(planted - flagged))
    assert {c[4] for c in planted} >= {"new", "worsened", "improved", "resolved"}


def test_a_noise_only_pair_flags_no_barrier_change(sample_maps, sample_data: Path):
    truth, _ = _planted(sample_data)
    assert truth["noise_only"]
    for before, after in truth["noise_only"]:
        for persona in truth["personas"]:
            diff = diff_maps(sample_maps[before][persona], sample_maps[after][persona], CONFIG, before, after)
            assert [b for b in diff["barriers"] if b["flagged"]] == [], (persona, diff["summary"])
            assert "no significant change" in diff["summary"] or "barrier" not in diff["summary"].split(":", 1)[1]


def test_any_two_versions_compare_and_the_summary_names_the_changes(sample_maps, sample_data: Path):
    truth, planted = _planted(sample_data)
    first, last = truth["periods"][0], truth["periods"][-1]
    persona = sorted({c[2] for c in planted})[0]
    diff = diff_maps(sample_maps[first][persona], sample_maps[last][persona], CONFIG, first, last)
    assert diff["from"] == first and diff["to"] == last
    flagged = [b for b in diff["barriers"] if b["flagged"]]
    for b in flagged:
        assert b["title"] in diff["summary"] and b["q_value"] < CONFIG.alpha
    md = to_markdown(diff)
    assert md.startswith(f"**{sample_maps[last][persona]['persona']['name']}: {last} vs {first}**")
    assert all(f"| {b['status']} |" in md for b in flagged)


def test_crossing_a_threshold_within_noise_is_not_flagged(sample_maps):
    new = copy.deepcopy(sample_maps["2025Q3"]["families"])
    stage = next(s for s in new["stages"] if any(b["kind"] == "catalog" for b in s["barriers"]))
    barrier = next(b for b in stage["barriers"] if b["kind"] == "catalog")
    old = copy.deepcopy(new)
    old_stage = next(s for s in old["stages"] if s["id"] == stage["id"])
    old_stage["barriers"] = [b for b in old_stage["barriers"] if b["id"] != barrier["id"]]
    measure = old["measures"]["catalog"][barrier["id"]]
    measure.update(customers=max(0, measure["customers"] - 1), active=False)  # one customer fewer: under the threshold
    diff = diff_maps(old, new, CONFIG, "a", "b")
    entry = next(b for b in diff["barriers"] if b["id"] == barrier["id"])
    assert entry["status"] == "unchanged" and not entry["flagged"]
    assert entry["note_code"] == "crossed_noise" and entry["note"] == "crossed the detection threshold; the change is within noise"
    measure["customers"] = 0  # now it really appeared
    entry = next(b for b in diff_maps(old, new, CONFIG, "a", "b")["barriers"] if b["id"] == barrier["id"])
    assert entry["status"] == "new" and entry["flagged"] and entry["direction"] == "up"
    # The same rise after a quarter away is a return, with the version it was last seen in.
    entry = next(b for b in diff_maps(old, new, CONFIG, "a", "b", {barrier["id"]: "2024Q4"})["barriers"] if b["id"] == barrier["id"])
    assert entry["status"] == "returned" and entry["last_seen"] == "2024Q4" and "(last seen 2024Q4)" in diff_maps(
        old, new, CONFIG, "a", "b", {barrier["id"]: "2024Q4"})["summary"]


def test_markdown_escapes_untrusted_titles(sample_maps):
    new = copy.deepcopy(sample_maps["2025Q2"]["young_urban"])
    old = copy.deepcopy(sample_maps["2025Q1"]["young_urban"])
    for stage in new["stages"]:
        for b in stage["barriers"]:
            b["title"] = "x | <img src=x onerror=alert(1)> *bold*"
    md = to_markdown(diff_maps(old, new, CONFIG, "2025Q1", "2025Q2"))
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md and "\\*bold\\*" in md and "x \\| " in md
