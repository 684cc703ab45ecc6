"""The per-mention scorer of ``benchmarks/eval_detection.py``: counting on a hand-built case, and
one small seed of the independent evaluation data read, labelled and scored end to end."""

from __future__ import annotations

import pandas as pd

from benchmarks.eval_detection import add_counts, rates, run_seed, score_mentions
from cjm_tasks.maps.barriers import wilson


def test_counts_true_and_false_mentions_of_a_hand_built_case():
    truth = pd.DataFrame({"row": [0, 0, 1, 3, 3], "label": ["a", "b", "a", "c", "c"]})  # (3, c) twice: one mention
    predicted = pd.DataFrame({
        "row": [0, 1, 2, 3, 4, 0],
        "label": ["a", "b", "a", "c", "z", "a"],  # z: not a scored barrier; (0, a) repeated
        "via": ["keyword", "similarity", "keyword", "similarity", "keyword", "keyword"],
    })
    groups = pd.Series({2: "praise", 4: "praise", 5: "vague"})
    counts = score_mentions(truth, predicted, 6, ["a", "b", "c"], groups)

    # TP (0,a) (3,c); FP (1,b) (2,a); FN (0,b) (1,a).
    assert (counts["true"], counts["predicted"], counts["tp"], counts["fp"], counts["fn"]) == (4, 4, 2, 2, 2)
    assert counts["by_barrier"] == {"a": {"true": 2, "predicted": 2, "tp": 1}, "b": {"true": 1, "predicted": 1, "tp": 0},
                                    "c": {"true": 1, "predicted": 1, "tp": 1}}
    assert counts["by_via"] == {"keyword": {"predicted": 2, "tp": 1}, "similarity": {"predicted": 2, "tp": 1}}
    # Texts about no barrier: rows 2, 4, 5; only row 2 got a scored barrier.
    assert counts["about_none"] == {"texts": 3, "alarms": 1, "by_group": {"praise": {"texts": 2, "alarms": 1},
                                                                         "vague": {"texts": 1, "alarms": 0}}}
    r = rates(counts)
    assert r["precision"] == {"k": 2, "n": 4, "value": 0.5, "interval": wilson(2, 4)}
    assert r["recall"]["value"] == 0.5 and r["false_alarms"]["value"] == round(1 / 3, 4)
    assert r["by_via"]["similarity"]["share_of_tp"] == 0.5 and r["by_barrier"]["b"]["precision"]["value"] == 0.0
    # Pooling adds counts: two identical seeds double every count and keep the rates.
    twice = add_counts(counts, counts)
    assert (twice["tp"], twice["about_none"]["by_group"]["praise"]["alarms"], twice["by_via"]["keyword"]["predicted"]) == (4, 2, 4)
    assert rates(twice)["precision"]["value"] == 0.5


def test_one_small_seed_joins_every_text_and_the_keywords_miss_most_mentions(tmp_path):
    result = run_seed(1, 0.2, tmp_path)  # odd seed: the long survey export
    joins = result["joins"]
    assert joins["texts"] > 1000 and joins["texts_unlabelled"] == 0 and joins["labels_unread"] <= joins["labels"] * 0.01
    assert set(result["counts"]) == {"keywords", "full"}
    for counts in result["counts"].values():
        assert counts["tp"] + counts["fp"] == counts["predicted"] and counts["tp"] + counts["fn"] == counts["true"]
        assert counts["true"] == result["true_mentions"] > 500
    keywords = rates(result["counts"]["keywords"])
    # The texts were not written from the keywords: the keywords alone find far from all mentions.
    assert keywords["recall"]["value"] < 1
    assert keywords["recall"]["interval"][1] < 0.9
    assert set(result["counts"]["keywords"]["by_via"]) <= {"keyword"}
