"""Text work, on the texts only: normalisation, sentiment, catalog matching and the stage of
texts given without one. Every text of the quarter (survey comments and reviews, one row each)
goes through :func:`analyse_texts` once, whatever the number of personas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjm_tasks.config import CjmConfig
from cjm_tasks.maps.distinct import distinct
from cjm_tasks.maps.text import normalize, sentiment

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.maps.matching import CatalogMatcher


def analyse_texts(texts: pd.DataFrame, config: CjmConfig, matcher: CatalogMatcher | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``texts`` (:func:`cjm_tasks.maps.prepared.collect_texts`) with ``norm`` (normalised once:
    matching, sentiment and themes all read it), ``sentiment`` and every text's ``stage``
    (inferred where not given), and the catalog matches by text position ``row``.

    Each distinct text is normalised, scored and matched once (a quarter repeats its texts a lot:
    templated answers, one comment on every question of a wide survey); the results are those of
    the texts one by one. ``matcher``: the configuration's :func:`catalog_matcher`, when already built."""
    import pandas as pd

    lexicon = config.barriers.sentiment.model_dump()
    known = None
    if len(texts):
        codes, values = distinct(texts["text"])
        norm = normalize(values)
        # The distinct normalised texts from the distinct texts' (a few), not from every row again.
        norm_of_value, norms = distinct(norm)
        norm_of_row = norm_of_value[codes]
        known = (norm_of_row, norms)
        texts["norm"] = pd.Series(norms.to_numpy()[norm_of_row], index=texts.index, dtype="object")
        texts["sentiment"] = sentiment(norm, lexicon, normalized=True).to_numpy()[codes]
    else:
        texts["norm"], texts["sentiment"] = texts["text"], []
    matches = (matcher or catalog_matcher(config)).match(texts["norm"], normalized=True, distinct_norm=known,
                                            eligible=similarity_eligible(texts, config) if len(texts) else None)
    texts["stage"] = infer_review_stages(texts, matches, config)
    return texts, matches


def infer_review_stages(texts: pd.DataFrame, matches: pd.DataFrame, config: CjmConfig) -> pd.Series:
    """Stage of every text: its own, else the stage most of its matched barriers belong to
    (ties go to the earlier stage of the journey), else ``experience`` (or the last stage)."""
    import pandas as pd

    stage_of = {b.id: b.stage for b in config.barriers.catalog}
    order = {s: i for i, s in enumerate(config.stage_ids)}
    stages = texts["stage"].copy()
    missing = stages.isna()
    if missing.any() and not matches.empty:
        # Only the two columns the votes read (the matches of every text without a stage, copied
        # with all their columns and then again with the stage, were the refresh's peak at 10x).
        m = matches.loc[matches["row"].isin(texts.index[missing]), ["row", "label"]]
        if not m.empty:
            m = pd.DataFrame({"row": m["row"].to_numpy(), "stage": m["label"].map(stage_of).to_numpy()})
            votes = m.groupby(["row", "stage"]).size().rename("n").reset_index()
            votes["order"] = votes["stage"].map(order)
            best = votes.sort_values(["row", "n", "order"], ascending=[True, False, True]).drop_duplicates("row")
            stages.loc[best["row"].to_numpy()] = best["stage"].to_numpy()
    default = "experience" if "experience" in order else config.stage_ids[-1]
    stages[stages.isna()] = default  # in place: the copy above is the only one
    return stages


def catalog_matcher(config: CjmConfig, *, word_forms: bool = True, similarity: bool = True) -> CatalogMatcher:
    """One matcher for every keyword, exclude phrase and example sentence of every catalog barrier,
    all languages (:mod:`cjm_tasks.maps.matching`). ``word_forms=False, similarity=False`` gives the
    keywords alone, as written (with gaps and negation): the baseline the benchmarks compare with."""
    from cjm_tasks.maps.matching import CatalogMatcher, MatchSettings

    settings = MatchSettings.from_config(config.barriers.matching, word_forms=word_forms, similarity=similarity)
    return CatalogMatcher(config.barriers.catalog, settings)


def similarity_eligible(texts: pd.DataFrame, config: CjmConfig) -> pd.Series:
    """Texts read for similarity: not praise (a score above ``max_score``, or no score and
    positive wording)."""
    limit = config.barriers.matching.similarity.max_score
    praised = (texts["score01"] > limit) | (texts["score01"].isna() & (texts["sentiment"] > 0))
    return ~praised
