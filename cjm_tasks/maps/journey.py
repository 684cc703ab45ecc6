"""Build every persona's journey map for one period from the validated inputs.

Inputs are read once; personas are a group-by over rows tagged with their persona (and every row
once more as persona ``all``), never a re-read or re-filter per persona.

Per persona and stage the map holds: customers reached and reached share; customer-level
conversion to the next stage within the period; touchpoints (events and share by channel);
customer actions (top event types); CSAT / NPS / CES and review rating with sample sizes and 95%
confidence intervals; the configured rates (cancellations, failed payments, ...); text sentiment;
an emotion score; the gap to the stage's ideal; the most frequent positive and negative themes;
barriers with evidence and quotes; and opportunities.

Emotion (in [-1, 1]) is the sample-weighted mean of the stage's signals, each scaled to [-1, 1]:
CSAT and rating as ``2 * (mean - low) / (high - low) - 1``, CES the same but inverted (less effort
is better), NPS as ``NPS / 100``, and text sentiment as it is. Each signal weighs ``n / (n + 10)``
for its sample size n, so a stage with three answers does not swing the curve.

A map says which kinds of input its persona had rows of (``data``: sales, surveys, reviews). A
persona without sales rows has no reach share (null, not 0%): nothing was measured, which is not
the same as nobody having been reached.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from cjm_tasks.maps.barriers import UNPLACED, MatchIndex, detect_catalog, detect_emerging, detect_metric, measure_population, wilson, with_keys
from cjm_tasks.config import CjmConfig, localize
from cjm_tasks.periods import Period
from cjm_tasks.maps.personas import ALL_PERSONA
from cjm_tasks.maps.distinct import RowSet, among, positions_by
from cjm_tasks.maps.prepared import Inputs, Prepared, prepare_inputs
from cjm_tasks.maps.text import WordPairs, count_phrases, pick_varied
from cjm_tasks.maps.measures import emotion, mean_ci, mean_stat, nps_stat, rounded
from cjm_tasks.models import SCHEMA_VERSION

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cjm_tasks.engine.journey import StageAggregates

log = logging.getLogger(__name__)

# Up to this many texts in the quarter, the ``all`` map is built on a thread beside the others (see maps_from).
THREADED_ALL_TEXTS = 4_000_000


def maps_from(prepared: Prepared, config: CjmConfig, period: Period, lineage: dict[str, Any] | None = None,
              personas: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """One map document per persona of ``prepared`` (or of ``personas``), keyed by persona id."""
    from dataclasses import replace

    import pandas as pd

    wanted = [p for p in prepared.personas(config) if personas is None or p in personas]
    matched_rows = RowSet(prepared.matches["row"].unique())  # asked by every map: made once
    matches = MatchIndex(prepared.matches)
    if len(prepared.texts) and "who" not in prepared.texts.columns:
        prepared = replace(prepared, texts=with_keys(prepared.texts))  # writers numbered once for every persona
    # The word pairs of every distinct text once; themes and emerging barriers take those of the rows they count.
    pairs = WordPairs(pd.Series(prepared.texts["norm"].to_numpy(), index=prepared.texts["row"].to_numpy(), dtype=object))

    def build(persona_id: str) -> dict[str, Any]:
        return _persona_map(prepared, persona_id, config, period, lineage, pairs, matched_rows, matches)

    # One persona at a time, in a function of its own: its texts (a copy of its rows) and their
    # groups are let go before the next persona's are taken, so two personas' copies are never
    # held at once (at ten times workload L each is hundreds of MB). ``all`` copies none (its
    # texts are the table): up to THREADED_ALL_TEXTS texts it is built on a thread beside the
    # others. The two hold the interpreter's lock in turns, but numpy's sorts and pandas' takes
    # let it go often enough that the second core does about a quarter of the work (the maps at
    # L, 1.3M texts: 2.95 -> 2.27 s). Beyond, one at a time: the two working at once hold more
    # (at ten times L, 12.8M texts, the refresh's peak 3,544 -> 3,952 MiB).
    others = [p for p in wanted if p != ALL_PERSONA]
    maps = {}
    if ALL_PERSONA in wanted and others and len(prepared.texts) <= THREADED_ALL_TEXTS:
        from concurrent.futures import ThreadPoolExecutor

        prepared.rows_of(others[0])  # the personas' row groups, cached before the thread starts
        with ThreadPoolExecutor(1, thread_name_prefix="cjm-map-all") as pool:
            everyone = pool.submit(build, ALL_PERSONA)
            for persona_id in others:
                maps[persona_id] = build(persona_id)
            maps[ALL_PERSONA] = everyone.result()
    else:
        for persona_id in wanted:
            maps[persona_id] = build(persona_id)
    return {persona_id: maps[persona_id] for persona_id in wanted}


def _persona_map(prepared: Prepared, persona_id: str, config: CjmConfig, period: Period, lineage: dict[str, Any] | None,
                 pairs: WordPairs, matched_rows: RowSet, matches: MatchIndex) -> dict[str, Any]:
    """One persona's map document (see :func:`maps_from`)."""
    import pandas as pd

    counts = prepared.counts
    minimum = config.barriers.detection.min_customers
    persona_cfg = next((p for p in config.personas.personas if p.id == persona_id), None)
    persona_texts = prepared.texts_for(persona_id)
    if not len(persona_texts):
        persona_texts = persona_texts.assign(who=None)
    aggregates = prepared.aggregates.of(persona_id)
    at_stage = positions_by(persona_texts["stage"])  # each stage's texts, taken one stage at a time
    if persona_id not in counts and not len(persona_texts):
        stages = _empty_stages(config)  # nobody in the persona this quarter
    else:
        stages = _stage_metrics(aggregates, persona_texts, at_stage, counts.get(persona_id, 0), config)
    population = measure_population(persona_texts, counts.get(persona_id, 0), config)
    catalog_found, catalog_measures = detect_catalog(persona_texts, matches, population, config)
    themes_found, theme_measures = detect_emerging(persona_texts, matched_rows, population, config, pairs)
    # What the stages' themes read of the texts, as arrays over the persona's texts that each
    # stage takes its positions of (no stage's texts are copied as a frame).
    polar = _theme_texts(persona_texts, matched_rows, config)
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for barrier in catalog_found + detect_metric(stages, config) + themes_found:
        by_stage.setdefault(barrier.pop("stage"), []).append(barrier)
    for stage in stages:
        stage["barriers"] = sorted(by_stage.get(stage["id"], []), key=lambda b: (-b["severity"], b["id"]))
        stage["opportunities"] = [
            {"barrier": b["id"], "title": b["title"], "action": b["recommendation"], "priority": b["severity"]}
            for b in stage["barriers"] if b["recommendation"]
        ]
        at = at_stage.get(stage["id"])
        stage["themes"] = _themes(polar, at, pairs)
        # Too few to tell: fewer customers reached the stage or wrote about it than the limit.
        seen = max(stage["metrics"]["customers"], len(pd.unique(polar["who"][at])) if at is not None else 0)
        stage["too_few"] = population.too_few or seen < minimum
    unplaced = sorted(by_stage.get(UNPLACED, []), key=lambda b: (-b["severity"], b["id"]))
    measures = {**population.as_dict(), "catalog": catalog_measures, "themes": theme_measures,
                "theme_floor": config.barriers.detection.theme_floor, "severity_half": config.barriers.detection.severity_half}
    lanes = set(aggregates["lanes"]["lane"])
    data = {"sales": "sales" in lanes, "surveys": "surveys" in lanes, "reviews": bool((persona_texts["kind"].to_numpy() == "review").any())}
    return _document(persona_id, persona_cfg, stages, unplaced, measures, counts.get(persona_id, 0), prepared.unassigned,
                     data, config, period, lineage)


def build_maps(inputs: Inputs, config: CjmConfig, period: Period, lineage: dict[str, Any] | None = None,
               personas: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """One map document per persona (plus ``all``) of tables held in memory, keyed by persona id:
    :func:`~cjm_tasks.maps.prepared.prepare_inputs`, then :func:`maps_from`. ``personas`` limits
    the output to those ids.
    """
    return maps_from(prepare_inputs(inputs, config), config, period, lineage, personas)


def _theme_texts(texts: pd.DataFrame, matched_rows: RowSet, config: CjmConfig) -> dict[str, np.ndarray]:
    """What the stages' themes read of a persona's texts, one entry per text: ``row``, ``who``,
    and which texts count for positive and for negative themes (:func:`_themes`)."""
    import numpy as np

    if not len(texts):
        return {name: np.zeros(0, dtype=np.int64 if name in ("row", "who") else bool) for name in ("row", "who", "positive", "negative")}
    rows = texts["row"].to_numpy(dtype=np.int64)
    given = texts["stage_given"].to_numpy(dtype=bool)
    score = texts["score01"].to_numpy(dtype=np.float64, na_value=np.nan)
    senti = texts["sentiment"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):  # a missing score or sentiment compares false
        positive = given & (score >= 0.75) & ~(senti < 0) & ~among(rows, matched_rows)
        negative = given & (score <= config.barriers.detection.negative_score)
    return {"row": rows, "who": texts["who"].to_numpy(), "positive": positive, "negative": negative}


def _themes(polar: dict[str, np.ndarray], at: np.ndarray | None, pairs: WordPairs) -> dict[str, list[dict[str, Any]]]:
    """What customers expect (positive themes) and fear (negative themes) at a stage, from the
    texts given at that stage (``at``: their positions in ``polar``, :func:`_theme_texts`).
    Expectations come from well-scored texts whose wording is not negative and that match no
    barrier, so a complaint phrase is never listed as an expectation."""
    out = {}
    for polarity in ("positive", "negative"):
        rows = polar["row"][at][polar[polarity][at]] if at is not None else polar["row"][:0]
        found = pick_varied(count_phrases(pairs.of(rows), min_count=3), top=3)
        out[polarity] = [{"phrase": t.phrase, "texts": int(t.texts)} for t in found.itertuples(index=False)]
    return out


def _empty_stages(config: CjmConfig) -> list[dict[str, Any]]:
    return [_stage_doc(stage, config, {}) for stage in config.stages]


def _stage_doc(stage, config: CjmConfig, m: dict[str, Any]) -> dict[str, Any]:
    lang = config.project.language
    return {
        "id": stage.id,
        "name": stage.name(lang),
        "goal": localize(stage.goal, lang) if stage.goal else None,
        "next": config.next_stage(stage.id),
        "loops_to": list(stage.loops_to),
        "touchpoints": m.get("touchpoints", []),
        "actions": m.get("actions", []),
        "metrics": m.get("metrics", {"customers": 0, "reached_share": None, "conversion_to_next": None, "csat": None, "nps": None,
                                      "ces": None, "rating": None, "sentiment": None, "emotion": None, "rates": {}, "intervals": {},
                                      "low_share": {}, "samples": {}}),
        "ideal": m.get("ideal", []),
        "themes": {"positive": [], "negative": []},
        "too_few": True,
        "barriers": [],
        "opportunities": [],
    }


def _stage_metrics(aggregates: StageAggregates, texts: pd.DataFrame, at_stage: dict[str, np.ndarray], customers: int,
                   config: CjmConfig) -> list[dict[str, Any]]:
    """One persona's stages with their metrics, from its aggregates (engine counts) and texts
    (``at_stage``: each stage's positions in them, :func:`~cjm_tasks.maps.distinct.positions_by`)."""
    import numpy as np
    import pandas as pd

    agg = aggregates.tables
    reach = _indexed(agg.get("reach"), ["stage"], "customers")
    converted = _indexed(agg.get("conversion"), ["stage"], "converted")
    event_counts = _indexed(agg.get("events"), ["event_type"], "events")
    by_channel = agg.get("channels")
    by_event = agg.get("actions")
    has_sales = "sales" in aggregates.sources_with_rows
    with_sales = has_sales and bool(len(agg["lanes"]) and (agg["lanes"]["lane"] == "sales").any())
    survey_stats = {}
    surveys = agg.get("surveys")
    if surveys is not None:
        for r in surveys.itertuples(index=False):
            n = int(r.n)
            stat = nps_stat(int(r.promoters), int(r.detractors), n) if r.metric == "nps" else mean_stat(r.mean, r.std, n)
            survey_stats[(r.stage, r.metric)] = (*stat, (int(r.low) / int(r.rows)) if int(r.rows) else None)
    text_stats = {}
    if at_stage:
        # Each stage's values taken by position: one column of one stage at a time is copied.
        rating, senti = texts["rating"].to_numpy(), texts["sentiment"].to_numpy()
        # numpy compares the object column four times faster than pandas (0.07 s a million texts).
        review = np.asarray(texts["kind"].to_numpy() == "review", dtype=bool)
        for stage, rows in at_stage.items():
            text_stats[stage] = {"rating": mean_ci(pd.Series(rating[rows[review[rows]]])), "sentiment": mean_ci(pd.Series(senti[rows])),
                                 "texts": len(rows)}

    # Each stage's touchpoints (most events first, then by channel) and top actions, sorted and
    # split once for the persona rather than filtered and sorted per stage.
    touchpoints_of: dict[str, list[dict[str, Any]]] = {}
    actions_of: dict[str, list[dict[str, Any]]] = {}
    if has_sales and by_channel is not None and by_event is not None:
        tps = by_channel.sort_values(["events", "channel"], ascending=[False, True], kind="stable")
        for stage_id, channel, events in zip(tps["stage"].tolist(), tps["channel"].tolist(), tps["events"].tolist()):
            touchpoints_of.setdefault(stage_id, []).append({"channel": channel, "events": int(events)})
        acts = by_event.sort_values(["events", "event_type"], ascending=[False, True], kind="stable")
        for stage_id, event_type, events, who in zip(acts["stage"].tolist(), acts["event_type"].tolist(), acts["events"].tolist(),
                                                     acts["customers"].tolist()):
            if len(actions_of.setdefault(stage_id, [])) < 5:
                actions_of[stage_id].append({"event_type": event_type, "events": int(events), "customers": int(who)})

    stages = []
    for stage in config.stages:
        reached_n = int(reach.get(stage.id, 0))
        nxt = config.next_stage(stage.id)
        conversion = int(converted.get(stage.id, 0)) / reached_n if nxt and reached_n and has_sales else None
        # Without sales rows reach is unmeasured, not 0%.
        measured = customers if with_sales else 0
        metrics: dict[str, Any] = {"customers": reached_n, "reached_share": rounded(reached_n / measured if measured else None),
                                   "conversion_to_next": rounded(conversion), "rates": {}, "intervals": {}, "low_share": {}, "samples": {}}
        metrics["samples"]["reached_share"] = measured
        metrics["samples"]["conversion_to_next"] = reached_n if nxt else 0
        signals = []
        # csat, nps and ces are always present (null when not measured) so every map has one shape.
        for metric in dict.fromkeys(["csat", "nps", "ces", *config.metrics.scales]):
            stat = survey_stats.get((stage.id, metric))
            if stat:
                value, n, ci, low_share = stat
                metrics[metric] = rounded(value, 2)
                metrics["samples"][metric] = n
                metrics["intervals"][metric] = ci
                metrics["low_share"][metric] = rounded(low_share)
                if metric == "nps":
                    signals.append((value / 100, n))
                else:
                    low, high = config.metrics.scales[metric]
                    scaled = 2 * (value - low) / (high - low) - 1
                    signals.append((-scaled if config.better(metric) == "lower" else scaled, n))
            else:
                metrics[metric] = None
                metrics["samples"][metric] = 0
        ts = text_stats.get(stage.id, {})
        rating, rating_n, rating_ci = ts.get("rating", (None, 0, None))
        senti, senti_n, senti_ci = ts.get("sentiment", (None, 0, None))
        metrics.update(rating=rounded(rating, 2), sentiment=rounded(senti))
        metrics["samples"].update(rating=rating_n, sentiment=senti_n, texts=ts.get("texts", 0))
        metrics["intervals"].update(rating=rating_ci, sentiment=senti_ci)
        if rating is not None:
            signals.append(((rating - 3) / 2, rating_n))
        if senti is not None:
            signals.append((senti, senti_n))
        metrics["emotion"] = emotion(signals)
        if has_sales and by_channel is not None and by_event is not None:
            for rate_name, spec in stage.rates.items():
                num = int(event_counts.get(spec.numerator, 0))
                den = int(event_counts.get(spec.denominator, 0))
                metrics["rates"][rate_name] = {"value": rounded(num / den if den else None, 4), "numerator": num, "denominator": den,
                                               "interval": wilson(num, den)}
            touchpoints = touchpoints_of.get(stage.id, [])
            total = sum(t["events"] for t in touchpoints)
            touchpoints = [{**t, "share": round(t["events"] / total, 4)} for t in touchpoints]
            actions = actions_of.get(stage.id, [])
            metrics["samples"]["events"] = total
        else:
            touchpoints, actions = [], []
        ideal = []
        for name, target in stage.ideal.items():
            actual = metrics["rates"][name]["value"] if name in metrics["rates"] else metrics.get(name)
            if actual is None:
                ideal.append({"metric": name, "target": target, "actual": None, "gap": None, "met": None})
                continue
            lower_better = config.better(name) == "lower"
            gap = actual - target
            ideal.append({"metric": name, "target": target, "actual": actual, "gap": rounded(gap, 4),
                          "met": bool(gap <= 0) if lower_better else bool(gap >= 0)})
        stages.append(_stage_doc(stage, config, {"metrics": metrics, "touchpoints": touchpoints, "actions": actions, "ideal": ideal}))
    return stages


def _indexed(table: pd.DataFrame | None, keys: list[str], value: str) -> dict[Any, int]:
    """``table``'s ``value`` by ``keys`` (one key: its value; several: a tuple)."""
    if table is None or not len(table):
        return {}
    index = table[keys[0]] if len(keys) == 1 else list(zip(*(table[k] for k in keys)))
    return dict(zip(index, table[value].astype("int64")))


def _document(persona_id: str, persona_cfg, stages: list[dict[str, Any]], unplaced: list[dict[str, Any]], measures: dict[str, Any],
              customers: int, unassigned: int, data: dict[str, bool], config: CjmConfig, period: Period,
              lineage: dict[str, Any] | None) -> dict[str, Any]:
    lang = config.project.language
    tz = config.project.timezone
    barriers = [dict(b, stage=s["id"]) for s in stages for b in s["barriers"]] + [dict(b, stage=UNPLACED) for b in unplaced]
    top = sorted(barriers, key=lambda b: (-b["severity"], b["id"]))[:5]
    curve = [{"stage": s["id"], "emotion": s["metrics"]["emotion"]} for s in stages]
    scored = [c for c in curve if c["emotion"] is not None]
    if persona_cfg is None:
        persona = {"id": ALL_PERSONA, "name": "Все клиенты" if lang == "ru" else "All customers",
                   "description": "Every row of the period, including customers in no persona and rows without a customer id.",
                   "customers": customers}
    else:
        persona = {"id": persona_cfg.id, "name": persona_cfg.display_name(lang), "description": persona_cfg.description, "customers": customers}
    return {
        "schema_version": SCHEMA_VERSION,
        "persona": persona,
        "period": str(period),
        "period_start": period.start(tz).isoformat(),
        "period_end": period.end(tz).isoformat(),
        "language": lang,
        "stages": stages,
        "unplaced": unplaced,
        "measures": measures,
        "directions": config.directions(),
        "data": data,
        "summary": {
            "customers": customers,
            "unassigned_customers": unassigned,
            "too_few": measures["too_few"],
            "texts": sum(s["metrics"]["samples"].get("texts", 0) for s in stages),
            "barriers": {"total": len(barriers), **{k: sum(b["kind"] == k for b in barriers) for k in ("catalog", "metric", "emerging")}},
            "top_barriers": [{"id": b["id"], "title": b["title"], "stage": b["stage"], "kind": b["kind"], "severity": b["severity"]} for b in top],
            "emotion_curve": curve,
            "lowest_stage": min(scored, key=lambda c: c["emotion"])["stage"] if scored else None,
        },
        "lineage": lineage or {},
    }

