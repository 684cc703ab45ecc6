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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjm_tasks.maps.barriers import UNPLACED, detect_catalog, detect_emerging, detect_metric, measure_population, wilson, with_keys
from cjm_tasks.config import CjmConfig, localize
from cjm_tasks.periods import Period
from cjm_tasks.maps.personas import ALL_PERSONA, assign_personas, customer_attributes, derive_features
from cjm_tasks.maps.text import count_phrases, normalize, pick_varied, sentiment, text_bigrams
from cjm_tasks.maps.measures import emotion, mean_ci, nps_ci, rounded, scale01
from cjm_tasks.models import SCHEMA_VERSION

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.maps.matching import CatalogMatcher

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """The canonical tables of one period (any of them may be missing)."""

    surveys: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    sales: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None




def collect_texts(inputs: Inputs, config: CjmConfig) -> pd.DataFrame:
    """Survey comments and reviews as one table of texts (a text repeated with the same kind and
    timestamp, e.g. one survey answer exported once per seller, is kept once).

    A survey comment belongs to the surveys source's ``comment_stage`` when declared ("general":
    no stage), else to the stage of the question it came with; a comment repeated on the rows of
    several stages' questions (a wide export melted into one row per question) belongs to no stage.

    Columns: kind, ref, customer_id, stage (None for reviews without one and general comments),
    at, text, language, source, score01 (the answer's or review's score scaled to 0..1, 1 best),
    rating, stage_given (whether the text came with its stage).
    """
    import pandas as pd

    parts = []
    s = inputs.surveys
    if s is not None and "comment" in s.columns:
        s = s[s["comment"].notna() & (s["comment"].str.strip() != "")]
        declared = config.sources["surveys"].comment_stage if "surveys" in config.sources else None
        score01 = pd.Series(float("nan"), index=s.index)
        for metric in s["metric"].dropna().unique():
            mask = s["metric"] == metric
            score01[mask] = scale01(s.loc[mask, "score"], metric, config)
        if len(s):
            # One comment given with several answers of a response (a wide export repeats it on
            # every question's row) is one text; it carries the lowest of those answers, since a
            # complaint is about what went wrong, not about the first question of the form.
            keys = [s[c] for c in ("customer_id", "answered_at", "comment") if c in s.columns]
            grouped = pd.DataFrame({"stage": s["stage"], "score01": score01}).groupby(keys, dropna=False)
            score01 = grouped["score01"].transform("min")
            if declared is None:
                s = s.assign(stage=s["stage"].where(grouped["stage"].transform("nunique") <= 1))
        if declared is not None:
            s = s.assign(stage=None if declared == "general" else declared)
        parts.append(pd.DataFrame({
            "kind": "survey", "ref": s["response_id"], "customer_id": s.get("customer_id"), "stage": s["stage"],
            "at": s["answered_at"], "text": s["comment"], "language": s.get("language"),
            "source": ("survey:" + s["channel"].fillna("unknown")) if "channel" in s.columns else "survey",
            "score01": score01, "rating": float("nan"),
        }))
    r = inputs.reviews
    if r is not None and len(r):
        parts.append(pd.DataFrame({
            "kind": "review", "ref": r["review_id"], "customer_id": r.get("customer_id"), "stage": r.get("stage"),
            "at": r["published_at"], "text": r["text"], "language": r.get("language"),
            "source": r["source"].fillna("review") if "source" in r.columns else "review",
            "score01": ((r["rating"] - 1) / 4).clip(0, 1), "rating": r["rating"],
        }))
    columns = ["kind", "ref", "customer_id", "stage", "at", "text", "language", "source", "score01", "rating"]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns}).assign(stage_given=pd.Series([], dtype="bool"))
    texts = pd.concat(parts, ignore_index=True)[columns]
    for column in ("customer_id", "stage", "language", "source", "text"):
        texts[column] = texts[column].astype("str").where(texts[column].notna())
    # The same answer exported once per seller or per order line is one voice, not several.
    repeated = texts.duplicated(["kind", "at", "text"]) & texts["at"].notna()
    texts = texts[~repeated].reset_index(drop=True)
    texts["stage_given"] = texts["stage"].notna()
    return texts


def infer_review_stages(texts: pd.DataFrame, matches: pd.DataFrame, config: CjmConfig) -> pd.Series:
    """Stage of every text: its own, else the stage most of its matched barriers belong to
    (ties go to the earlier stage of the journey), else ``experience`` (or the last stage)."""
    stage_of = {b.id: b.stage for b in config.barriers.catalog}
    order = {s: i for i, s in enumerate(config.stage_ids)}
    stages = texts["stage"].copy()
    missing = stages.isna()
    if missing.any() and not matches.empty:
        m = matches[matches["row"].isin(texts.index[missing])]
        if not m.empty:
            votes = m.assign(stage=m["label"].map(stage_of)).groupby(["row", "stage"]).size().rename("n").reset_index()
            votes["order"] = votes["stage"].map(order)
            best = votes.sort_values(["row", "n", "order"], ascending=[True, False, True]).drop_duplicates("row")
            stages.loc[best["row"].to_numpy()] = best["stage"].to_numpy()
    default = "experience" if "experience" in order else config.stage_ids[-1]
    return stages.fillna(default)


def _tag(frame: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Rows with a ``persona`` column: once per persona of their customer, and once as ``all``."""
    import pandas as pd

    if frame is None or frame.empty:
        return pd.DataFrame(columns=[*(frame.columns if frame is not None else []), "persona"])
    with_id = frame[frame["customer_id"].notna()] if "customer_id" in frame.columns else frame.iloc[0:0]
    tagged = with_id.reset_index(names="row").merge(members, on="customer_id", how="inner")
    everyone = frame.reset_index(names="row").assign(persona=ALL_PERSONA)
    return pd.concat([tagged, everyone], ignore_index=True)










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


@dataclass
class Prepared:
    """A period's rows tagged with their personas, ready for per-persona metrics.

    ``sales``, ``surveys`` and ``texts`` hold one row per (row, persona): each row once per
    persona of its customer and once as ``all``. ``matches`` are the catalog keyword hits of the
    texts (by text position ``row``); ``counts`` the active customers per persona.
    """

    sales: pd.DataFrame | None
    surveys: pd.DataFrame | None
    texts: pd.DataFrame
    matches: pd.DataFrame
    counts: dict[str, int]
    unassigned: int

    def personas(self, config: CjmConfig) -> list[str]:
        return [p.id for p in config.personas.personas] + [ALL_PERSONA]


def prepare(inputs: Inputs, config: CjmConfig) -> Prepared:
    """Assign personas, match catalog keywords in every text once, infer review stages, score
    sentiment, and tag every row with its personas. Inputs are read once, whatever the number
    of personas. Raises :class:`~cjm_tasks.maps.personas.RuleError` when a persona rule cannot be applied.
    """
    sales = inputs.sales
    active = set()
    for frame in (inputs.sales, inputs.surveys, inputs.reviews):
        if frame is not None and "customer_id" in frame.columns:
            active |= set(frame["customer_id"].dropna().unique())
    features = derive_features(sales, customer_attributes(inputs, config), config.order_events)
    features = features[features.index.isin(active)]
    membership = assign_personas(features, config.personas, str(config.files.get("personas", "personas.yaml")))

    texts = collect_texts(inputs, config)
    # Normalised once: keyword matching, sentiment and themes all read this column.
    texts["norm"] = normalize(texts["text"]) if len(texts) else texts["text"]
    lexicon = config.barriers.sentiment.model_dump()
    texts["sentiment"] = sentiment(texts["norm"], lexicon, normalized=True).to_numpy() if len(texts) else []
    matches = catalog_matcher(config).match(texts["norm"], normalized=True,
                                            eligible=similarity_eligible(texts, config) if len(texts) else None)
    texts["stage"] = infer_review_stages(texts, matches, config)

    members = membership.members
    counts = membership.counts()
    counts[ALL_PERSONA] = len(active)
    return Prepared(
        sales=_tag(sales, members) if sales is not None else None,
        surveys=_tag(inputs.surveys, members) if inputs.surveys is not None else None,
        texts=_tag(texts, members),
        matches=matches,
        counts=counts,
        unassigned=membership.unassigned,
    )


def maps_from(prepared: Prepared, config: CjmConfig, period: Period, lineage: dict[str, Any] | None = None,
              personas: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """One map document per persona of ``prepared`` (or of ``personas``), keyed by persona id."""
    tagged_texts = with_keys(prepared.texts) if len(prepared.texts) else prepared.texts.assign(who=None)
    counts = prepared.counts
    wanted = [p for p in prepared.personas(config) if personas is None or p in personas]
    stage_metrics = _stage_metrics(prepared.sales, prepared.surveys, tagged_texts, counts, config)
    matched_rows = set(prepared.matches["row"])
    # Each text's word pairs once; themes and emerging barriers count subsets of them by row.
    bigrams = text_bigrams(tagged_texts.drop_duplicates("row").set_index("row")["norm"], normalized=True)
    minimum = config.barriers.detection.min_customers

    maps = {}
    for persona_id in wanted:
        persona_cfg = next((p for p in config.personas.personas if p.id == persona_id), None)
        stages = stage_metrics.get(persona_id) or _empty_stages(config)
        persona_texts = tagged_texts[tagged_texts["persona"] == persona_id]
        population = measure_population(persona_texts, counts.get(persona_id, 0), config)
        catalog_found, catalog_measures = detect_catalog(persona_texts, prepared.matches, population, config)
        themes_found, theme_measures = detect_emerging(persona_texts, matched_rows, population, config, bigrams)
        by_stage: dict[str, list[dict[str, Any]]] = {}
        for barrier in catalog_found + detect_metric(stages, config) + themes_found:
            by_stage.setdefault(barrier.pop("stage"), []).append(barrier)
        for stage in stages:
            stage["barriers"] = sorted(by_stage.get(stage["id"], []), key=lambda b: (-b["severity"], b["id"]))
            stage["opportunities"] = [
                {"barrier": b["id"], "title": b["title"], "action": b["recommendation"], "priority": b["severity"]}
                for b in stage["barriers"] if b["recommendation"]
            ]
            stage_texts = persona_texts[persona_texts["stage"] == stage["id"]]
            stage["themes"] = _themes(stage_texts, matched_rows, config, bigrams)
            # Too few to tell: fewer customers reached the stage or wrote about it than the limit.
            seen = max(stage["metrics"]["customers"], int(stage_texts["who"].nunique()) if len(stage_texts) else 0)
            stage["too_few"] = population.too_few or seen < minimum
        unplaced = sorted(by_stage.get(UNPLACED, []), key=lambda b: (-b["severity"], b["id"]))
        measures = {**population.as_dict(), "catalog": catalog_measures, "themes": theme_measures,
                    "theme_floor": config.barriers.detection.theme_floor, "severity_half": config.barriers.detection.severity_half}
        data = {"sales": _has_rows(prepared.sales, persona_id), "surveys": _has_rows(prepared.surveys, persona_id),
                "reviews": bool((persona_texts["kind"] == "review").any())}
        maps[persona_id] = _document(persona_id, persona_cfg, stages, unplaced, measures, counts.get(persona_id, 0), prepared.unassigned,
                                     data, config, period, lineage)
    return maps


def _has_rows(tagged: pd.DataFrame | None, persona: str) -> bool:
    """Whether a tagged table (None: its source is not configured) has rows of ``persona``."""
    return tagged is not None and bool((tagged["persona"] == persona).any())


def build_maps(inputs: Inputs, config: CjmConfig, period: Period, lineage: dict[str, Any] | None = None,
               personas: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """One map document per persona (plus ``all``), keyed by persona id: :func:`prepare`, then
    :func:`maps_from`. ``personas`` limits the output to those ids.
    """
    return maps_from(prepare(inputs, config), config, period, lineage, personas)


def _themes(stage_texts: pd.DataFrame, matched_rows: set[int], config: CjmConfig, bigrams: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """What customers expect (positive themes) and fear (negative themes) at a stage, from the
    texts given at that stage. Expectations come from well-scored texts whose wording is not
    negative and that match no barrier, so a complaint phrase is never listed as an expectation."""
    out = {}
    given = stage_texts[stage_texts["stage_given"].astype(bool)]
    positive = (given["score01"] >= 0.75) & ~(given["sentiment"] < 0) & ~given["row"].isin(matched_rows)
    negative = given["score01"] <= config.barriers.detection.negative_score
    for polarity, mask in (("positive", positive), ("negative", negative)):
        rows = given.loc[mask, "row"]
        found = pick_varied(count_phrases(bigrams[bigrams["row"].isin(rows)], min_count=3), top=3)
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


def _stage_metrics(sales, surveys, texts, counts: dict[str, int], config: CjmConfig) -> dict[str, list[dict[str, Any]]]:
    """Stage metrics of every persona from the tagged tables, by group-by."""
    import pandas as pd

    reach = pd.Series(dtype="int64")
    reach_matrix = None
    with_sales: set[str] = set()
    if sales is not None and len(sales):
        with_sales = set(sales["persona"].unique())
        reached = sales[["persona", "customer_id", "stage"]].dropna().drop_duplicates()
        reach = reached.groupby(["persona", "stage"]).size()
        reach_matrix = reached.assign(v=True).pivot_table(index=["persona", "customer_id"], columns="stage", values="v", aggfunc="any", fill_value=False)
        by_channel = sales.groupby(["persona", "stage", "channel"]).size().rename("events").reset_index()
        by_event = sales.groupby(["persona", "stage", "event_type"]).agg(events=("row", "size"), customers=("customer_id", "nunique")).reset_index()
        event_counts = sales.groupby(["persona", "event_type"]).size()
    survey_stats = {}
    if surveys is not None and len(surveys):
        for (persona, stage, metric), scores in surveys.groupby(["persona", "stage", "metric"])["score"]:
            low, high = config.metrics.scales.get(metric, (1, 5))
            stat = nps_ci(scores) if metric == "nps" else mean_ci(scores)
            low_share = float((scale01(scores, metric, config) <= 0.25).mean()) if len(scores) else None
            survey_stats[(persona, stage, metric)] = (*stat, low_share)
    text_stats = {}
    if len(texts):
        for (persona, stage), group in texts.groupby(["persona", "stage"]):
            reviews = group[group["kind"] == "review"]
            text_stats[(persona, stage)] = {"rating": mean_ci(reviews["rating"]), "sentiment": mean_ci(group["sentiment"]), "texts": len(group)}

    personas = set(counts) | set(texts["persona"].unique() if len(texts) else [])
    result = {}
    for persona in personas:
        customers = counts.get(persona, 0)
        stages = []
        for stage in config.stages:
            reached_n = int(reach.get((persona, stage.id), 0))
            nxt = config.next_stage(stage.id)
            conversion = None
            if reach_matrix is not None and nxt and reached_n and persona in reach_matrix.index.get_level_values(0):
                block = reach_matrix.loc[persona]
                if stage.id in block.columns:
                    at = block[stage.id]
                    both = at & block[nxt] if nxt in block.columns else at & False
                    conversion = float(both.sum() / at.sum()) if at.sum() else None
            # Without sales rows reach is unmeasured, not 0%.
            measured = customers if persona in with_sales else 0
            metrics: dict[str, Any] = {"customers": reached_n, "reached_share": rounded(reached_n / measured if measured else None),
                                       "conversion_to_next": rounded(conversion), "rates": {}, "intervals": {}, "low_share": {}, "samples": {}}
            metrics["samples"]["reached_share"] = measured
            metrics["samples"]["conversion_to_next"] = reached_n if nxt else 0
            signals = []
            # csat, nps and ces are always present (null when not measured) so every map has one shape.
            for metric in dict.fromkeys(["csat", "nps", "ces", *config.metrics.scales]):
                stat = survey_stats.get((persona, stage.id, metric))
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
            ts = text_stats.get((persona, stage.id), {})
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
            if sales is not None and len(sales):
                for rate_name, spec in stage.rates.items():
                    num = int(event_counts.get((persona, spec.numerator), 0))
                    den = int(event_counts.get((persona, spec.denominator), 0))
                    metrics["rates"][rate_name] = {"value": rounded(num / den if den else None, 4), "numerator": num, "denominator": den,
                                                   "interval": wilson(num, den)}
                tps = by_channel[(by_channel["persona"] == persona) & (by_channel["stage"] == stage.id)]
                total = int(tps["events"].sum())
                touchpoints = [{"channel": r.channel, "events": int(r.events), "share": round(r.events / total, 4)}
                               for r in tps.sort_values(["events", "channel"], ascending=[False, True]).itertuples()]
                acts = by_event[(by_event["persona"] == persona) & (by_event["stage"] == stage.id)]
                actions = [{"event_type": r.event_type, "events": int(r.events), "customers": int(r.customers)}
                           for r in acts.sort_values(["events", "event_type"], ascending=[False, True]).head(5).itertuples()]
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
        result[persona] = stages
    return result


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

