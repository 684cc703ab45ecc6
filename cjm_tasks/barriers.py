"""Barrier detection and evidence: catalog, metric and emerging barriers with severity and quotes.

Severity (0-100) combines how many are affected (reach) with how bad it is (impact)::

    severity = round(100 * sqrt(min(1, reach / full_reach)) * impact),   impact in [0.4, 1]

- catalog: reach = share of the persona's texts at the barrier's stage that mention it;
  impact = 0.4 + 0.6 * negativity, negativity = 1 - mean score (scaled 0..1) of those texts.
- metric: reach = the share of orders/answers/customers concerned (the rate itself; for a
  ``lt`` rule on a share such as conversion, 1 - value; for low CSAT, the share of answers in
  the bottom quarter of the scale); impact = 0.4 + 0.6 * min(1, distance past the threshold
  relative to the threshold).
- emerging: reach = share of the persona's texts at the theme's stage using the phrase; impact as
  catalog.

``full_reach`` (default 0.25) is configurable under ``detection`` in barriers.yaml. Quotes are
the most negative, then most recent, distinct texts, cut to ``quote_chars``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from cjm_tasks.config import CjmConfig, localize
from cjm_tasks.text import KeywordMatcher, count_phrases, pick_varied, stable_id

if TYPE_CHECKING:
    import pandas as pd


def severity(reach: float, impact: float, full_reach: float) -> int:
    """The documented severity formula; ``reach`` and ``impact`` are clipped to their ranges."""
    if reach is None or not math.isfinite(reach) or reach <= 0:
        return 0
    impact = min(1.0, max(0.4, impact))
    return int(round(100 * math.sqrt(min(1.0, reach / full_reach)) * impact))


def _impact_from_negativity(negativity: float) -> float:
    return 0.4 + 0.6 * (0.5 if negativity is None or not math.isfinite(negativity) else min(1.0, max(0.0, negativity)))


def pick_quotes(texts: pd.DataFrame, limit: int, chars: int) -> list[dict[str, Any]]:
    """Up to ``limit`` short, distinct verbatims: most negative first, then most recent.

    ``texts`` has columns text, norm (the normalised text), score01, at, source, language.
    Texts that normalise to the same words count once.
    """
    if limit == 0 or texts.empty:
        return []
    ordered = texts.assign(_neg=texts["score01"].fillna(0.5), _len=texts["text"].str.len())
    ordered = ordered[ordered["_len"] >= 8].sort_values(["_neg", "at", "_len"], ascending=[True, False, True], kind="stable")
    quotes: list[dict[str, Any]] = []
    kept: list[frozenset[str]] = []
    candidates = ordered.head(200)
    keys = candidates["norm"].str.strip().tolist()  # normalised once, when the texts were prepared
    for row, key in zip(candidates.itertuples(index=False), keys):
        words = frozenset(key.split())
        # Near-duplicates (the same complaint pasted twice, a word changed) count once.
        if any(len(words & other) / max(1, len(words | other)) > 0.8 for other in kept):
            continue
        kept.append(words)
        text = " ".join(str(row.text).split())
        if len(text) > chars:
            text = text[: chars - 1].rsplit(" ", 1)[0] + "…"
        quotes.append({"text": text, "source": row.source, "date": row.at.date().isoformat() if row.at is not None else None,
                       "language": row.language if isinstance(row.language, str) else None})
        if len(quotes) == limit:
            break
    return quotes


def detect_catalog(texts: pd.DataFrame, matches: pd.DataFrame, config: CjmConfig
                   ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, dict[str, dict[str, int]]]]]:
    """Catalog barriers per persona, and the evidence of every catalog barrier mentioned at all.

    ``texts``: one row per (persona, text) with columns persona, row (position in the text
    table), stage, customer_id, score01, text, at, source, language. ``matches``: row, label
    (barrier id), keyword. Returns ({persona: [barrier, ...]} over the thresholds,
    {persona: {stage: {barrier id: {"mentions", "texts"}}}} for every barrier with a mention),
    the second so that a later diff can test whether a barrier really appeared or went away.
    """
    det = config.barriers.detection
    lang = config.project.language
    if texts.empty or matches.empty:
        return {}, {}
    catalog = {b.id: b for b in config.barriers.catalog}
    hits = texts.merge(matches[["row", "label", "keyword"]], on="row")
    stage_texts = texts.groupby(["persona", "stage"]).size()
    out: dict[str, list[dict[str, Any]]] = {}
    signals: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    for (persona, barrier_id), group in hits.groupby(["persona", "label"], sort=True):
        barrier = catalog[barrier_id]
        mentions = len(group)
        # The share is of the texts where customers could have said it: the persona's texts at
        # the barrier's stage and at every stage where it was in fact mentioned.
        stages = set(group["stage"].dropna()) | {barrier.stage}
        denominator = max(mentions, sum(int(stage_texts.get((persona, st), 0)) for st in stages))
        share = mentions / denominator if denominator else 0.0
        signals.setdefault(persona, {}).setdefault(barrier.stage, {})[barrier_id] = {"mentions": mentions, "texts": denominator}
        if mentions < det.min_mentions or share < det.min_share:
            continue
        negativity = 1 - group["score01"].mean() if group["score01"].notna().any() else None
        keywords = group["keyword"].value_counts().head(5)
        out.setdefault(persona, []).append({
            "id": barrier.id,
            "stage": barrier.stage,
            "title": localize(barrier.title, lang),
            "kind": "catalog",
            "severity": severity(share, _impact_from_negativity(negativity), det.full_reach),
            "evidence": {
                "mentions": mentions,
                "texts_at_stage": denominator,
                "share": round(share, 4),
                "customers": int(group["customer_id"].nunique()),
                "negativity": None if negativity is None else round(float(negativity), 3),
                "keywords": {str(k): int(v) for k, v in keywords.items()},
                "sources": {str(k): int(v) for k, v in group["source"].value_counts().items()},
            },
            "quotes": pick_quotes(group, det.quotes, det.quote_chars),
            "recommendation": localize(barrier.recommendation, lang),
        })
    return out, signals


_OPS = {"lt": lambda v, t: v < t, "le": lambda v, t: v <= t, "gt": lambda v, t: v > t, "ge": lambda v, t: v >= t}


def detect_metric(stages: list[dict[str, Any]], config: CjmConfig) -> list[dict[str, Any]]:
    """Metric barriers of one persona's map from its stage metrics (``stages`` of the map)."""
    det = config.barriers.detection
    lang = config.project.language
    found = []
    for rule in config.barriers.metric_rules:
        for stage in stages:
            if rule.stage not in ("*", stage["id"]):
                continue
            metrics = stage["metrics"]
            value, samples, reach, numerator, denominator = _metric_value(metrics, rule.metric, config)
            if value is None or samples < max(rule.min_samples, 1):
                continue
            if not _OPS[rule.op](value, rule.threshold):
                continue
            excess = abs(value - rule.threshold) / abs(rule.threshold) if rule.threshold else 1.0
            barrier_id = rule.id if rule.stage != "*" else f"{rule.id}.{stage['id']}"
            evidence = {"metric": rule.metric, "value": round(value, 4), "op": rule.op, "threshold": rule.threshold, "samples": samples}
            if numerator is not None:
                evidence.update(numerator=numerator, denominator=denominator)
            found.append({
                "id": barrier_id,
                "stage": stage["id"],
                "title": localize(rule.title, lang),
                "kind": "metric",
                "severity": severity(reach, 0.4 + 0.6 * min(1.0, excess), det.full_reach),
                "evidence": evidence,
                "quotes": [],
                "recommendation": localize(rule.recommendation, lang),
            })
    return found


def _metric_value(metrics: dict[str, Any], name: str, config: CjmConfig) -> tuple[float | None, int, float, int | None, int | None]:
    """(value, sample size, reach, numerator, denominator) of a stage metric for a rule."""
    rates = metrics.get("rates", {})
    if name in rates:
        rate = rates[name]
        return rate["value"], rate["denominator"], rate["value"] or 0.0, rate["numerator"], rate["denominator"]
    value = metrics.get(name)
    samples = metrics.get("samples", {}).get(name, 0)
    if value is None:
        return None, 0, 0.0, None, None
    if name == "conversion_to_next":
        return value, samples, 1 - value, round(value * samples), samples
    if name == "reached_share":
        return value, samples, 1 - value, None, None
    if name in config.metrics.scales:
        low_share = metrics.get("low_share", {}).get(name)
        return value, samples, low_share if low_share is not None else 0.25, None, None
    return value, samples, 0.25, None, None


def detect_emerging(texts: pd.DataFrame, matched_rows: set[int], config: CjmConfig, bigrams: pd.DataFrame) -> list[dict[str, Any]]:
    """Recurring two-word phrases in one persona's negative texts that match no catalog barrier.

    A phrase qualifies when at least ``emerging_min_support`` negative texts use it, they are at
    least ``emerging_min_share`` of the unmatched negative texts, and it is distinctive of negative
    text: its share among negative texts is at least twice its share among the persona's other
    texts (so "next time" or a product name used by everybody is not a theme).
    """
    det = config.barriers.detection
    if det.emerging_max == 0 or texts.empty:
        return []
    # Negative: a low score whose wording is not clearly positive (a 1-star "great product" is noise).
    low = (texts["score01"] <= det.negative_score) & ~(texts["sentiment"] > 0)
    negative = texts[low & ~texts["row"].isin(matched_rows)].reset_index(drop=True)
    others = texts[~low].reset_index(drop=True)
    if len(negative) < det.emerging_min_support:
        return []
    # ``bigrams``: every text's word pairs by row (text_bigrams), computed once for all personas.
    candidates = count_phrases(bigrams[bigrams["row"].isin(negative["row"])], det.emerging_min_support)
    candidates = candidates[candidates["texts"] / len(negative) >= det.emerging_min_share]
    if candidates.empty:
        return []
    elsewhere = KeywordMatcher({p: [p] for p in candidates["phrase"]}).match(others["norm"], normalized=True)["label"].value_counts()
    negative_share = candidates["texts"] / len(negative)
    other_share = candidates["phrase"].map(elsewhere).fillna(0) / max(1, len(others))
    distinctive = candidates[negative_share >= 2 * other_share]
    stage_texts = texts.groupby("stage").size()
    out = []
    for theme in pick_varied(distinctive, det.emerging_max).itertuples(index=False):
        group = negative[negative["row"].isin(theme.rows)]
        stage = str(group["stage"].mode().sort_values().iloc[0])
        reach = theme.texts / max(1, int(stage_texts.get(stage, 0)))
        negativity = 1 - group["score01"].mean()
        out.append({
            "id": stable_id("emerging", theme.phrase),
            "stage": stage,
            "title": theme.phrase,
            "kind": "emerging",
            "severity": severity(reach, _impact_from_negativity(negativity), det.full_reach),
            "evidence": {"phrase": theme.phrase, "mentions": int(theme.texts), "negative_texts": len(negative),
                         "share": round(theme.texts / len(negative), 4), "texts_at_stage": int(stage_texts.get(stage, 0)),
                         "elsewhere": int(elsewhere.get(theme.phrase, 0)),
                         "customers": int(group["customer_id"].nunique()), "negativity": round(float(negativity), 3)},
            "quotes": pick_quotes(group, det.quotes, det.quote_chars),
            "recommendation": None,
        })
    return out
