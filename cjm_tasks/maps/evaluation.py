"""Score the comment-text barrier detector against human labels.

The detector of catalog barriers reads only the text of a comment (``cjm_tasks.maps.text``); a labelled
set of comments such as the Olist classified reviews (``most_voted_subclass``) tells how often it
is right. :func:`score_detector` compares, for every labelled class mapped to a barrier id, the
texts a human put in that class with the texts the detector matched to that barrier.

A text may match several barriers; it counts as predicted for every class whose barrier matched,
so the classes are scored one against the rest (precision and recall per class), not as a single
choice per text. The matcher the maps use is ``cjm_tasks.maps.journey.catalog_matcher(config)``;
``benchmarks/olist_detector.py`` scores the Olist example's catalog with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.maps.text import KeywordMatcher

SCORE_COLUMNS = ["barrier", "support", "predicted", "true_positives", "precision", "recall"]


def score_detector(texts: pd.Series, labels: pd.Series, matcher: KeywordMatcher, classes: Mapping[str, str]) -> pd.DataFrame:
    """Per-class precision and recall of ``matcher`` against human ``labels``.

    ``texts`` and ``labels`` are aligned Series (same length and order): the comment and the class
    a human gave it. ``classes`` maps a label to the barrier id the matcher should find for it,
    e.g. ``{"atrasado": "late_delivery"}``. Rows whose text is missing or blank, or whose label is
    missing, are left out of every count.

    Returns one row per class of ``classes`` (index ``label``) with columns ``barrier``,
    ``support`` (texts with that label), ``predicted`` (texts where the barrier matched),
    ``true_positives`` (both), ``precision`` (true positives / predicted; NaN when nothing was
    predicted) and ``recall`` (true positives / support; NaN without support).
    Raises ``ValueError`` when ``texts`` and ``labels`` differ in length.
    """
    import numpy as np
    import pandas as pd

    if len(texts) != len(labels):
        raise ValueError(f"texts and labels must be aligned: {len(texts)} texts, {len(labels)} labels")
    text = pd.Series(texts).reset_index(drop=True)
    label = pd.Series(labels).reset_index(drop=True)
    keep = text.notna() & (text.astype("str").str.strip() != "") & label.notna()
    text, label = text[keep].reset_index(drop=True), label[keep].astype("str").reset_index(drop=True)

    matches = matcher.match(text)
    wanted = pd.DataFrame({"label": list(classes), "barrier": list(classes.values())})
    # One row per (text, class) the detector predicted: a matched barrier may stand for several classes.
    predicted = matches[["row", "label"]].rename(columns={"label": "barrier"}).merge(wanted, on="barrier")
    predicted["truth"] = label.to_numpy()[predicted["row"].to_numpy(dtype="int64")]
    predicted["hit"] = predicted["truth"] == predicted["label"]

    by_class = predicted.groupby("label").agg(predicted=("row", "nunique"), true_positives=("hit", "sum"))
    scores = wanted.set_index("label")
    scores["support"] = label.value_counts().reindex(scores.index, fill_value=0)
    scores = scores.join(by_class).fillna({"predicted": 0, "true_positives": 0})
    for column in ("support", "predicted", "true_positives"):
        scores[column] = scores[column].astype("int64")
    scores["precision"] = scores["true_positives"] / scores["predicted"].replace(0, np.nan)
    scores["recall"] = scores["true_positives"] / scores["support"].replace(0, np.nan)
    return scores[SCORE_COLUMNS]
