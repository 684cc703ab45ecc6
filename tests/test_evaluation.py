"""Scoring the text detector against human labels (the function; the Olist figures are in test_olist)."""

from __future__ import annotations

import pandas as pd
import pytest


def test_score_detector_counts_each_class_against_the_rest():
    """Tiny explicit table: multi-label matches, left-out rows, a class the matcher never finds."""
    from cjm_tasks.maps.evaluation import score_detector
    from cjm_tasks.maps.text import KeywordMatcher

    matcher = KeywordMatcher({"late_delivery": ["atras*", "nao chegou"], "partial_delivery": ["so veio um"]})
    texts = pd.Series(["Atrasou muito", "não chegou", "só veio um e atrasou", "ótimo", None, "   ", "atrasado", "veio errado"])
    labels = pd.Series(["atrasado", "atrasado", "entrega_parcial", "satisfeito", "atrasado", "atrasado", None, "diferente_do_anunciado"])
    scores = score_detector(texts, labels, matcher, {"atrasado": "late_delivery", "entrega_parcial": "partial_delivery",
                                                     "diferente_do_anunciado": "not_as_advertised"})
    assert scores.loc["atrasado", ["support", "predicted", "true_positives"]].tolist() == [2, 3, 2]
    assert scores.loc["atrasado", "precision"] == pytest.approx(2 / 3) and scores.loc["atrasado", "recall"] == 1.0
    assert scores.loc["entrega_parcial", ["support", "predicted", "true_positives", "precision", "recall"]].tolist() == [1, 1, 1, 1.0, 1.0]
    missing = scores.loc["diferente_do_anunciado"]
    assert (missing["support"], missing["predicted"]) == (1, 0) and pd.isna(missing["precision"]) and missing["recall"] == 0.0
    with pytest.raises(ValueError, match="aligned"):
        score_detector(texts, labels[:3], matcher, {"atrasado": "late_delivery"})
