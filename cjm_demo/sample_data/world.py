"""The demo world model: its constants (journey, rates, score distributions, the freshly planted
catalog level), how each persona behaves, and the world read from the configuration files and
checked against that model. The bounds of planted strengths are the scheduler's (schedule.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from cjm_demo.sample_data.texts import _COMPLAINTS, _LANGS, _TextPools, _build_pools

log = logging.getLogger(__name__)

BASE_CUSTOMERS = 1500
"""Active customers per quarter at ``scale=1``."""
BLOCK_CUSTOMERS = 1000
"""Customers per random-number block: the unit that keeps output independent of chunking."""
CHUNK_CUSTOMERS = 50_000
"""Default customers per sales part file (bounds memory at any scale)."""

_RU_SHARE = 0.4
_COMMENT_SHARE = 0.5

# Seed tags keep the random streams of different purposes apart.
_TAG_SCHEDULE, _TAG_COHORT, _TAG_BLOCK = 101, 202, 303

_CHANNELS = ("web", "app", "store", "phone", "email", "sms", "social")
_SURVEY_CHANNELS = ("email", "sms", "app", "web", "phone")
_REVIEW_SOURCES = ("site", "app_store", "marketplace", "maps")
_REGIONS = ("north", "south", "east", "west", "central")
_SIGNUP_CHANNELS = ("web", "app", "store", "phone")

# The world model's journey; stages.yaml must list each event type under the same stage.
_STAGE_EVENTS = {
    "awareness": ("ad_click", "site_visit", "search_visit", "social_click"),
    "evaluation": ("product_view", "compare", "add_to_cart"),
    "purchase": ("checkout_started", "order_placed", "payment_failed", "order_cancelled",
                 "order_delivered", "delivery_late"),
    "experience": ("product_registered", "support_contact", "return_requested"),
    "loyalty": ("repeat_order", "loyalty_signup", "referral"),
    "reminder": ("email_open", "sms_click", "push_open"),
}
_EVENT_TYPES = tuple(e for events in _STAGE_EVENTS.values() for e in events)

# Baseline rates sit well under the metric_rules thresholds of barriers.yaml.
_BASELINE = {"cancel": 0.05, "fail": 0.03, "late": 0.06, "returns": 0.06}
_RATE_MECHANISM = {"cancellation_rate": "cancel", "failed_payment_rate": "fail",
                   "late_delivery_rate": "late", "return_rate": "returns"}

# Survey invitations per customer who reached the stage (ces questions are asked less often),
# and reviews per customer who reached the stage: together ~1.5 answers and ~0.34 reviews.
_INVITE = {"awareness": 0.25, "evaluation": 0.32, "purchase": 0.5, "experience": 0.6,
           "loyalty": 1.0, "reminder": 0.5}
_INVITE_FACTOR = {"csat": 1.0, "ces": 0.6, "nps": 1.0}
_REVIEW_RATE = {"awareness": 0.04, "evaluation": 0.07, "purchase": 0.2, "experience": 0.25,
                "loyalty": 0.25, "reminder": 0.06}
# Anonymous marketplace reviews: how often they are unhappy with no barrier behind it, and
# where they are posted (_REVIEW_SOURCES).
_ANONYMOUS_MOOD = 0.07
_ANONYMOUS_SOURCES = (0.1, 0.1, 0.5, 0.3)

# Score distributions: a happy customer, one hit by a barrier, one of a stage with low CSAT.
_SCORES = {
    "csat": (1, (0.01, 0.02, 0.07, 0.38, 0.52), (0.15, 0.30, 0.30, 0.20, 0.05),
             (0.45, 0.35, 0.15, 0.04, 0.01)),
    "ces": (1, (0.01, 0.02, 0.04, 0.08, 0.20, 0.32, 0.33), (0.12, 0.20, 0.25, 0.20, 0.13, 0.06, 0.04),
            (0.30, 0.30, 0.20, 0.10, 0.06, 0.03, 0.01)),
    "nps": (0, (0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.05, 0.10, 0.14, 0.25, 0.35),
            (0.10, 0.08, 0.10, 0.12, 0.12, 0.14, 0.12, 0.10, 0.06, 0.04, 0.02),
            (0.20, 0.15, 0.15, 0.12, 0.10, 0.10, 0.08, 0.05, 0.03, 0.01, 0.01)),
}
_METRICS = tuple(_SCORES)

# Planted-barrier strengths. A catalog barrier's strength is its intensity; its freshly planted
# level is whatever gives ~14 expected mentions per persona-stage at scale 1 (at least 8 %), so
# that even an unlucky quarter shows ~8.
_MENTIONS_AT_SCALE_1 = 14
_CATALOG_MIN = 0.08


@dataclass(frozen=True)
class _PersonaModel:
    """How one persona behaves; mixes are probabilities over the tuples named in the comments."""

    share: float
    segment: str
    ages: tuple[int, int]                 # inclusive
    evaluation: float                     # awareness -> evaluation
    conversion: float                     # evaluation -> purchase at baseline
    orders: float                         # extra orders per purchaser (Poisson mean)
    loyalty: float                        # experience -> loyalty
    reminders: float                      # reminder reach of customers who are not loyal
    support: float                        # support contacts per delivered order
    views: float                          # extra evaluation events (Poisson mean)
    amount: tuple[float, float, float, float]  # median, log-sd, min, max of one order
    mood: float                           # share of unhappy answers with no barrier behind them
    awareness_mix: tuple[float, ...]      # _STAGE_EVENTS["awareness"]
    channel_mix: tuple[float, ...]        # web, app, store, phone
    reminder_mix: tuple[float, ...]       # _STAGE_EVENTS["reminder"]
    region_mix: tuple[float, ...]         # _REGIONS
    survey_channel_mix: tuple[float, ...]  # _SURVEY_CHANNELS
    review_source_mix: tuple[float, ...]  # _REVIEW_SOURCES
    affinity: tuple[str, ...]             # barriers this persona is prone to


# Consumer amounts stay under 450 so that no consumer reaches the business rule's
# avg_order_value >= 500; ages stay inside the bands of personas.yaml.
_PERSONA_MODELS = {
    "business_buyers": _PersonaModel(
        share=0.2, segment="business", ages=(24, 64), evaluation=0.85, conversion=0.6, orders=0.9,
        loyalty=0.45, reminders=0.3, support=0.2, views=2.5, amount=(650.0, 0.6, 100.0, 3000.0),
        mood=0.08, awareness_mix=(0.2, 0.45, 0.3, 0.05), channel_mix=(0.55, 0.05, 0.1, 0.3),
        reminder_mix=(0.7, 0.2, 0.1), region_mix=(0.15, 0.15, 0.15, 0.15, 0.4),
        survey_channel_mix=(0.6, 0.05, 0.05, 0.2, 0.1), review_source_mix=(0.5, 0.05, 0.25, 0.2),
        affinity=("late_delivery", "cash_only_payment", "hidden_fees", "poor_description",
                  "slow_support", "late_deliveries", "failed_payments", "high_cancellation")),
    "young_urban": _PersonaModel(
        share=0.3, segment="consumer", ages=(18, 29), evaluation=0.85, conversion=0.52, orders=0.3,
        loyalty=0.35, reminders=0.45, support=0.08, views=3.5, amount=(45.0, 0.7, 5.0, 449.99),
        mood=0.06, awareness_mix=(0.3, 0.2, 0.2, 0.3), channel_mix=(0.25, 0.6, 0.1, 0.05),
        reminder_mix=(0.2, 0.1, 0.7), region_mix=(0.1, 0.1, 0.1, 0.1, 0.6),
        survey_channel_mix=(0.2, 0.1, 0.6, 0.1, 0.0), review_source_mix=(0.15, 0.45, 0.3, 0.1),
        affinity=("site_errors", "spam_reminders", "hidden_fees", "pushy_upsell", "out_of_stock",
                  "checkout_drop_off", "low_csat.evaluation")),
    "families": _PersonaModel(
        share=0.3, segment="consumer", ages=(30, 54), evaluation=0.8, conversion=0.56, orders=0.5,
        loyalty=0.4, reminders=0.4, support=0.12, views=3.0, amount=(90.0, 0.6, 5.0, 449.99),
        mood=0.04, awareness_mix=(0.25, 0.35, 0.3, 0.1), channel_mix=(0.4, 0.35, 0.2, 0.05),
        reminder_mix=(0.5, 0.2, 0.3), region_mix=(0.2, 0.2, 0.2, 0.2, 0.2),
        survey_channel_mix=(0.45, 0.15, 0.25, 0.15, 0.0), review_source_mix=(0.35, 0.2, 0.35, 0.1),
        affinity=("late_delivery", "out_of_stock", "no_instructions", "not_as_promised",
                  "high_returns", "late_deliveries")),
    "seniors": _PersonaModel(
        share=0.2, segment="consumer", ages=(55, 84), evaluation=0.75, conversion=0.55, orders=0.25,
        loyalty=0.45, reminders=0.25, support=0.3, views=2.0, amount=(60.0, 0.5, 5.0, 449.99),
        mood=0.02, awareness_mix=(0.3, 0.3, 0.35, 0.05), channel_mix=(0.1, 0.05, 0.45, 0.4),
        reminder_mix=(0.3, 0.6, 0.1), region_mix=(0.25, 0.25, 0.2, 0.2, 0.1),
        survey_channel_mix=(0.25, 0.3, 0.0, 0.05, 0.4), review_source_mix=(0.2, 0.05, 0.15, 0.6),
        affinity=("queues", "rude_staff", "no_instructions", "slow_support", "cash_only_payment",
                  "hard_to_find", "low_csat.purchase")),
}


@dataclass(frozen=True)
class _Barrier:
    """A plantable barrier and the range of its strength (see the module docstring)."""

    id: str
    kind: str          # catalog | metric
    stage: str
    mechanism: str     # catalog | cancel | fail | late | returns | conversion | csat
    metric: str | None
    threshold: float | None
    affinity_key: str  # catalog id or metric-rule based id, matched against persona affinity


@dataclass(frozen=True)
class _World:
    personas: tuple[str, ...]
    stages: tuple[str, ...]
    event_stage: np.ndarray          # stage index per _EVENT_TYPES
    question_ids: tuple[str, ...]
    question_stage: np.ndarray
    question_metric: np.ndarray      # index into _METRICS
    question_invite: np.ndarray
    catalog: tuple[str, ...]         # catalog barriers the templates cover, config order
    catalog_stage: np.ndarray
    barriers: dict[str, _Barrier]    # every plantable barrier by id
    catalog_low: np.ndarray          # [persona, stage] freshly planted catalog intensity
    params: dict[str, np.ndarray]    # per-persona model parameters as arrays
    score_cum: np.ndarray            # [metric, row, 11] cumulative score distributions
    score_mean: np.ndarray           # [metric, row]
    pools: _TextPools


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


@lru_cache(maxsize=4)
def _load_world(config_dir: Path) -> _World:
    stages_cfg = _read_yaml(config_dir / "stages.yaml")
    personas_cfg = _read_yaml(config_dir / "personas.yaml")
    barriers_cfg = _read_yaml(config_dir / "barriers.yaml")
    stages_file, personas_file = config_dir / "stages.yaml", config_dir / "personas.yaml"

    stages = tuple(str(s["id"]) for s in stages_cfg.get("stages", []))
    if set(stages) != set(_STAGE_EVENTS):
        raise ValueError(f"{stages_file}: key stages: the demo world walks the stages "
                         f"{sorted(_STAGE_EVENTS)}, the file declares {sorted(stages)}")
    declared = {str(e): str(s["id"]) for s in stages_cfg["stages"] for e in s.get("events", [])}
    for stage, events in _STAGE_EVENTS.items():
        for event in events:
            if declared.get(event) != stage:
                raise ValueError(f"{stages_file}: key stages.{stage}.events: the demo world emits "
                                 f"{event!r} at {stage}, the file has it at {declared.get(event)!r}")
    stage_index = {s: i for i, s in enumerate(stages)}
    event_stage = np.array([stage_index[declared[e]] for e in _EVENT_TYPES], dtype=np.int64)

    question_ids, q_stage, q_metric, q_invite = [], [], [], []
    for stage in stages_cfg["stages"]:
        for qid, metric in (stage.get("questions") or {}).items():
            if metric not in _SCORES:
                raise ValueError(f"{stages_file}: key stages.{stage['id']}.questions.{qid}: "
                                 f"metric {metric!r} is not one of {list(_SCORES)}")
            question_ids.append(str(qid))
            q_stage.append(stage_index[stage["id"]])
            q_metric.append(_METRICS.index(metric))
            q_invite.append(_INVITE[stage["id"]] * _INVITE_FACTOR[metric])

    personas = tuple(str(p["id"]) for p in personas_cfg.get("personas", []))
    if list(personas) != list(_PERSONA_MODELS):
        raise ValueError(f"{personas_file}: key personas: the demo world models "
                         f"{list(_PERSONA_MODELS)} in that order, the file declares {list(personas)}")
    models = [_PERSONA_MODELS[p] for p in personas]
    params = {
        "evaluation": np.array([m.evaluation for m in models]),
        "conversion": np.array([m.conversion for m in models]),
        "orders": np.array([m.orders for m in models]),
        "loyalty": np.array([m.loyalty for m in models]),
        "reminders": np.array([m.reminders for m in models]),
        "support": np.array([m.support for m in models]),
        "views": np.array([m.views for m in models]),
        "amount_median": np.array([m.amount[0] for m in models]),
        "amount_sigma": np.array([m.amount[1] for m in models]),
        "amount_min": np.array([m.amount[2] for m in models]),
        "amount_max": np.array([m.amount[3] for m in models]),
        "awareness_mix": np.array([m.awareness_mix for m in models]),
        "channel_mix": np.array([m.channel_mix for m in models]),
        "reminder_mix": np.array([m.reminder_mix for m in models]),
        "survey_channel_mix": np.array([m.survey_channel_mix for m in models]),
        "review_source_mix": np.array([m.review_source_mix for m in models] + [_ANONYMOUS_SOURCES]),
        "region_mix": np.array([m.region_mix for m in models]),
        "ages": np.array([m.ages for m in models]),
    }

    catalog_cfg = barriers_cfg.get("catalog", [])
    catalog = tuple(str(b["id"]) for b in catalog_cfg
                    if all(str(b["id"]) in _COMPLAINTS[lang] for lang in _LANGS) and b["stage"] in stage_index)
    catalog_stage_of = {str(b["id"]): str(b["stage"]) for b in catalog_cfg}
    barriers: dict[str, _Barrier] = {
        b: _Barrier(b, "catalog", catalog_stage_of[b], "catalog", None, None, b) for b in catalog}
    csat_stages = [stages[s] for s, m in zip(q_stage, q_metric, strict=True) if _METRICS[m] == "csat"]
    for rule in barriers_cfg.get("metric_rules", []):
        rid, metric, threshold = str(rule["id"]), str(rule["metric"]), float(rule["threshold"])
        if metric in _RATE_MECHANISM and rule.get("op") == "gt":
            mechanism = _RATE_MECHANISM[metric]
            if _BASELINE[mechanism] * 1.5 > threshold:
                log.warning("metric rule %s: threshold %g is too close to the demo baseline %g",
                            rid, threshold, _BASELINE[mechanism])
            barriers[rid] = _Barrier(rid, "metric", str(rule["stage"]), mechanism, metric, threshold, rid)
        elif metric == "conversion_to_next" and rule.get("stage") == "evaluation" and rule.get("op") == "lt":
            barriers[rid] = _Barrier(rid, "metric", "evaluation", "conversion", metric, threshold, rid)
        elif metric == "csat" and rule.get("op") == "lt":
            targets = sorted(set(csat_stages), key=stages.index) if rule.get("stage") == "*" else [rule["stage"]]
            for stage in targets:
                bid = f"{rid}.{stage}" if rule.get("stage") == "*" else rid
                barriers[bid] = _Barrier(bid, "metric", str(stage), "csat", metric, threshold, f"{rid}.{stage}")
        else:
            log.debug("metric rule %s (%s) is not planted by the demo world", rid, metric)

    reach = _expected_reach(models, stages)
    text_rate = np.array([[reach[p, s] * (
        _COMMENT_SHARE * sum(inv for qs, inv in zip(q_stage, q_invite, strict=True) if qs == s)
        + _REVIEW_RATE[stages[s]]) for s in range(len(stages))] for p in range(len(models))])
    customers_at_scale_1 = np.array([m.share for m in models]) * BASE_CUSTOMERS
    catalog_low = np.maximum(_CATALOG_MIN, _MENTIONS_AT_SCALE_1 / (customers_at_scale_1[:, None] * text_rate))
    score_cum, score_mean = _score_tables(models)
    return _World(
        personas=personas, stages=stages, event_stage=event_stage, question_ids=tuple(question_ids),
        question_stage=np.array(q_stage), question_metric=np.array(q_metric),
        question_invite=np.array(q_invite), catalog=catalog,
        catalog_stage=np.array([stage_index[catalog_stage_of[b]] for b in catalog]),
        barriers=barriers, catalog_low=np.round(catalog_low, 4), params=params,
        score_cum=score_cum, score_mean=score_mean, pools=_build_pools(stages, catalog, catalog_stage_of))


def _expected_reach(models: list[_PersonaModel], stages: tuple[str, ...]) -> np.ndarray:
    """Share of a persona's customers reaching each stage at baseline (approximate)."""
    reach = np.zeros((len(models), len(stages)))
    for p, m in enumerate(models):
        purchase = m.evaluation * m.conversion
        experience = purchase * 0.9
        loyal = experience * m.loyalty
        values = {"awareness": 1.0, "evaluation": m.evaluation, "purchase": purchase,
                  "experience": experience, "loyalty": loyal,
                  "reminder": loyal * 0.8 + (1 - loyal) * m.reminders}
        reach[p] = [values[s] for s in stages]
    return reach


def _score_tables(models: list[_PersonaModel]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative score distributions: rows are personas, anonymous, barrier hit, low-CSAT hit."""
    moods = [m.mood for m in models] + [_ANONYMOUS_MOOD]
    cum = np.full((len(_METRICS), len(moods) + 2, 11), np.inf)
    mean = np.zeros((len(_METRICS), len(moods) + 2))
    for k, metric in enumerate(_METRICS):
        lowest, good, hit, low = _SCORES[metric]
        good, hit, low = np.array(good), np.array(hit), np.array(low)
        rows = [(1 - mood) * good + mood * hit for mood in moods] + [hit, low]
        for r, probs in enumerate(rows):
            # The last bucket is open-ended so rounding never leaves a draw without a score.
            cum[k, r, : probs.size - 1] = np.cumsum(probs)[:-1]
            mean[k, r] = float(np.dot(probs, np.arange(probs.size) + lowest))
    return cum, mean
