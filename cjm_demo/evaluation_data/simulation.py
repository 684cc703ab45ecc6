"""One quarter of the evaluation retailer: who is active, what they meet, do, answer and write."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cjm_tasks.periods import Period

from cjm_demo.evaluation_data.texts import Dice, NEUTRAL, PRAISE, VAGUE, combine, write_complaint, write_text
from cjm_demo.evaluation_data.world import (
    ALSO_REVIEW, ANONYMOUS_REVIEWS, COMBINE_REVIEWS, RETENTION, SEGMENTS, Segment, TIMEZONE, TOPICS, Topic,
)

NextId = Callable[[str], int]

QUESTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    # (question id, stage, metric, wide export column, long export question text)
    ("q_find", "awareness", "csat", "Q1 How easy was it to find us (1-5)", "Насколько легко было нас найти?"),
    ("q_info", "evaluation", "csat", "Q2 How clear was the product information (1-5)", "Насколько понятной была информация о товаре?"),
    ("q_checkout", "purchase", "csat", "Q3 How satisfied are you with checkout and delivery (1-5)", "Оцените оформление и доставку заказа"),
    ("q_effort", "purchase", "ces", "Q4 How much effort did the purchase take (1 = none, 7 = a lot)", "Сколько усилий потребовала покупка?"),
    ("q_product", "experience", "csat", "Q5 How satisfied are you with the product in use (1-5)", "Насколько вы довольны товаром?"),
    ("q_recommend", "loyalty", "nps", "Q6 How likely are you to recommend us (0-10)", "Порекомендуете ли вы нас друзьям?"),
    ("q_reminders", "reminder", "csat", "Q7 How useful are our emails and notifications (1-5)", "Насколько полезны наши письма и уведомления?"),
)
COMMENT_COLUMN = "Comment / Комментарий"
# The question a complaint about a stage is written under in the long export.
STAGE_QUESTION = {"awareness": "q_find", "evaluation": "q_info", "purchase": "q_checkout", "experience": "q_product",
                  "loyalty": "q_recommend", "reminder": "q_reminders"}
_CSAT = {"fine": (0.02, 0.04, 0.14, 0.40, 0.40), "hit": (0.38, 0.34, 0.18, 0.07, 0.03), "halo": (0.06, 0.12, 0.27, 0.33, 0.22)}
_CES = {"fine": (0.30, 0.30, 0.18, 0.10, 0.06, 0.04, 0.02), "hit": (0.03, 0.05, 0.08, 0.14, 0.22, 0.26, 0.22),
        "halo": (0.15, 0.22, 0.20, 0.17, 0.12, 0.08, 0.06)}
_NPS = {"fine": (0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.06, 0.13, 0.22, 0.24, 0.24),
        "hit": (0.06, 0.06, 0.09, 0.11, 0.12, 0.14, 0.14, 0.12, 0.08, 0.05, 0.03)}
_RATING = {"complaint": (0.55, 0.30, 0.12, 0.03, 0.0), "praise": (0.0, 0.0, 0.05, 0.35, 0.60),
           "neutral": (0.0, 0.05, 0.45, 0.40, 0.10), "vague": (0.15, 0.45, 0.35, 0.05, 0.0)}
_CHANNELS = {"PRO": (("store", 0.6), ("web", 0.3), ("call_center", 0.1)),
             "FAM": (("web", 0.4), ("app", 0.3), ("store", 0.3)),
             "YNG": (("app", 0.6), ("web", 0.3), ("store", 0.1))}
_CITIES = ("Moscow", "Kazan", "Tver", "Samara", "Yaroslavl", "Tula")
_REVIEW_SITES = ("site", "app_store", "maps", "otzovik")
_SKIP_ANSWER = 0.04


@dataclass
class _Customer:
    id: str
    segment: Segment
    language: str
    channel: str
    city: str
    registered: str


@dataclass
class _Registry:
    """Every customer created so far, and who was active last quarter, per segment."""

    customers: dict[str, _Customer] = field(default_factory=dict)
    last_active: dict[str, list[str]] = field(default_factory=dict)

    def active(self, segment: Segment, count: int, rng: np.random.Generator, first_day: datetime) -> list[_Customer]:
        previous = self.last_active.get(segment.code, [])
        kept = min(count, round(RETENTION * len(previous)))
        ids = [previous[i] for i in sorted(rng.choice(len(previous), kept, replace=False))] if kept else []
        channels, weights = zip(*_CHANNELS[segment.code])
        for _ in range(count - kept):
            cid = f"K{len(self.customers) + 100001}"
            self.customers[cid] = _Customer(
                id=cid, segment=segment, language="ru" if rng.random() < segment.russian_share else "en",
                channel=str(rng.choice(channels, p=weights)), city=str(rng.choice(_CITIES)),
                registered=(first_day - timedelta(days=int(rng.integers(0, 900)))).date().isoformat())
            ids.append(cid)
        self.last_active[segment.code] = ids
        return [self.customers[i] for i in ids]


@dataclass
class _Quarter:
    """What one quarter's customers did and wrote, as rows of the exports."""

    events: list[tuple] = field(default_factory=list)
    surveys: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _draw(dice: Dice, probs: Sequence[float], low: int) -> int:
    return low + dice.weighted(range(len(probs)), probs)


def _simulate_quarter(rng: np.random.Generator, period: Period, q: int, prevalence: Mapping[str, Mapping[str, Sequence[float]]],
                      registry: _Registry, scale: float, long_survey: bool) -> _Quarter:
    """Quarter ``q``: who is active, what they meet, do, answer and write."""
    start = period.start(TIMEZONE).replace(tzinfo=None)
    span = (period.end(TIMEZONE).replace(tzinfo=None) - start).total_seconds()
    out = _Quarter()
    # Per-customer draws come from their own stream; the vectorised ones (who meets what) from rng.
    dice = Dice(np.random.default_rng(int(rng.integers(2**62))))
    seq = {"event": 0, "order": 0, "response": 0, "review": 0}

    def next_id(kind: str) -> int:
        seq[kind] += 1
        return seq[kind]

    for segment in SEGMENTS:
        count = max(20, round(segment.active * scale * float(rng.uniform(0.94, 1.06))))
        customers = registry.active(segment, count, rng, start)
        p = np.array([prevalence[segment.persona][t.key][q] for t in TOPICS])
        met = rng.random((len(customers), len(TOPICS))) < p
        wrote = met & (rng.random(met.shape) < segment.write_probability)
        tally = {"active_customers": len(customers), "survey_respondents": 0, "customers_with_text": 0, "customers_with_any_text": 0,
                 "met": {t.key: int(met[:, i].sum()) for i, t in enumerate(TOPICS)},
                 "wrote": {t.key: int(wrote[:, i].sum()) for i, t in enumerate(TOPICS)}}
        for c, customer in enumerate(customers):
            met_topics = [TOPICS[i] for i in np.flatnonzero(met[c])]
            t0 = start + timedelta(seconds=dice.uniform(0, span - 14 * 86400))
            _customer_events(dice, out, customer, met_topics, t0, next_id)
            lang = customer.language
            texts: list[tuple[str, str, tuple[str, ...], str]] = []  # (text, tone, topics, stage)
            for i in np.flatnonzero(wrote[c]):
                topic = TOPICS[i]
                texts.append((write_complaint(topic.key, lang, dice), "complaint", (topic.key,), topic.stage))
            if not met_topics and dice.random() < segment.neutral_probability:
                tone = dice.weighted(("praise", "neutral", "vague"), (0.6, 0.2, 0.2))
                pool = {"praise": PRAISE, "neutral": NEUTRAL, "vague": VAGUE}[tone]
                texts.append((write_text(pool, lang, dice), tone, (), "loyalty"))
            respondent = dice.random() < segment.survey_share
            at = t0 + timedelta(days=dice.uniform(7, 13))
            attributed = False
            if respondent:
                tally["survey_respondents"] += 1
                attributed = _survey_response(dice, out, customer, met_topics, texts, at, long_survey, next_id, period) or attributed
            review_texts = texts if not respondent else (
                [texts[dice.integers(len(texts))]] if texts and texts[0][1] == "complaint" and dice.random() < ALSO_REVIEW else [])
            if len(review_texts) > 1 and dice.random() < COMBINE_REVIEWS:
                review_texts = [(combine([t[0] for t in review_texts], lang, dice), "complaint",
                                 tuple(k for t in review_texts for k in t[2]), review_texts[0][3])]
            for text, tone, keys, _stage in review_texts:
                attributed = _review(dice, out, customer, text, tone, keys, t0 + timedelta(days=dice.uniform(5, 13)), next_id, period) or attributed
            tally["customers_with_text"] += int(attributed)
            tally["customers_with_any_text"] += int(bool(texts))
        out.counts[segment.persona] = tally
    return out


def _customer_events(dice: Dice, out: _Quarter, customer: _Customer, met: Sequence[Topic], t0: datetime, next_id: NextId) -> None:
    """The customer's order events of the quarter, in the company's own event names."""
    keys = {t.key for t in met}
    buys = bool(keys & {t.key for t in TOPICS if t.stage in ("purchase", "experience")})
    rows: list[tuple[str, float, str | None, float | None]] = []  # (event, day offset, channel override, amount)

    def add(event: str, day: float, channel: str | None = None, amount: float | None = None) -> None:
        rows.append((event, day, channel, amount))

    if dice.random() < 0.92:
        for _ in range(1 + int(dice.random() < 0.5)):
            add(dice.pick(["banner_click", "store_locator_visit", "catalog_search"]), dice.uniform(0, 1))
    for _ in range(1 + dice.integers(4)):
        add("product_page_view", dice.uniform(1, 2))
    if dice.random() < 0.15:
        add("wishlist_add", dice.uniform(1, 2))
    if buys or dice.random() < 0.8:
        add("basket_created", 2.0 + dice.uniform(0, 0.5))
        declined = 0.05 + 0.3 * bool(keys & {"cash_only_payment", "site_errors"})
        if buys or dice.random() < 0.9:
            add("checkout_opened", 2.6)
            if dice.random() < declined:
                add("payment_declined", 2.65)
            if buys or dice.random() < 0.93:
                typical = {"PRO": 9.2, "FAM": 8.4, "YNG": 7.8}[customer.segment.code]
                amount = round(math.exp(typical + 0.6 * NormalDist().inv_cdf(min(max(dice.random(), 1e-9), 1 - 1e-9))), 2)
                add("order_paid", 2.7, None, amount)
                if dice.random() < 0.03 + 0.35 * ("out_of_stock" in keys):
                    add("order_cancelled_by_client", 3.0)
                elif dice.random() < 0.97 or buys:
                    add("parcel_received", 5.0 + dice.uniform(0, 2), "courier")
                    if dice.random() < 0.05 + 0.7 * ("late_delivery" in keys):
                        add("parcel_late", 5.0, "courier")
                    if dice.random() < 0.35:
                        add("warranty_registration", 6.5)
                    if dice.random() < 0.08 + 0.8 * ("slow_support" in keys) + 0.3 * ("not_as_promised" in keys):
                        add("support_ticket", 7.0, "call_center")
                    if dice.random() < 0.03 + 0.5 * ("not_as_promised" in keys):
                        add("order_refund", 8.0)
    if dice.random() < (0.5 if customer.segment.code == "PRO" else 0.3):
        add("repeat_purchase", 9.0 + dice.uniform(0, 3))
    if dice.random() < 0.1:
        add("bonus_card_issued", 9.5)
    if dice.random() < 0.04:
        add("friend_referral", 10.0)
    if dice.random() < 0.35:
        add("newsletter_opened", dice.uniform(0, 12), "email")
    if dice.random() < (0.45 if customer.segment.code == "YNG" else 0.25):
        add("push_opened", dice.uniform(0, 12), "push")
    if not rows:
        add("catalog_search", 0.5)
    order_no = f"ORD-{next_id('order'):07d}" if any(r[0] == "order_paid" for r in rows) else None
    for event, day, channel, amount in rows:
        at = t0 + timedelta(days=day, seconds=dice.uniform(0, 3600))
        own_channel = channel or (customer.channel if dice.random() < 0.7 else dice.pick(["web", "app", "store"]))
        out.events.append((f"EV{next_id('event'):08d}", customer.id, customer.segment.code, event, at.replace(microsecond=0),
                           own_channel, order_no if event not in ("banner_click", "store_locator_visit", "catalog_search",
                                                                  "product_page_view", "wishlist_add", "newsletter_opened",
                                                                  "push_opened") else None, amount))


def _survey_response(dice: Dice, out: _Quarter, customer: _Customer, met: Sequence[Topic],
                     texts: Sequence[tuple[str, str, tuple[str, ...], str]], at: datetime, long_survey: bool, next_id: NextId,
                     period: Period) -> bool:
    """One survey response (scores for every question, a comment when the customer writes);
    returns whether it carries a comment."""
    hit_stages = {t.stage for t in met}
    answers: dict[str, int | None] = {}
    for qid, stage, metric, _, _ in QUESTIONS:
        mood = "hit" if stage in hit_stages else ("halo" if met and dice.random() < 0.5 else "fine")
        if metric == "nps":
            answers[qid] = _draw(dice, _NPS["hit" if met else "fine"], 0)
        elif metric == "ces":
            answers[qid] = _draw(dice, _CES[mood], 1)
        else:
            answers[qid] = _draw(dice, _CSAT[mood], 1)
        if dice.random() < _SKIP_ANSWER:
            answers[qid] = None
    response = f"RSP-{period}-{next_id('response'):06d}"
    comments: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for text, tone, keys, stage in texts:
        qid = STAGE_QUESTION[stage] if tone == "complaint" else "q_recommend"
        comments.setdefault(qid, []).append((text, tone, keys))
    if not long_survey and comments:
        # The wide export has one comment box for the whole response.
        every = [c for cs in comments.values() for c in cs]
        comments = {"*": [(combine([c[0] for c in every], customer.language, dice), every[0][1], tuple(k for c in every for k in c[2]))]}
    if all(v is None for v in answers.values()):
        answers["q_recommend"] = _draw(dice, _NPS["hit" if met else "fine"], 0)
    stamp = at.strftime("%d.%m.%Y %H:%M")
    for qid, items in comments.items():
        if qid != "*" and answers.get(qid) is None:
            answers[qid] = _draw(dice, _CSAT["hit"], 1) if qid != "q_recommend" else _draw(dice, _NPS["hit" if met else "fine"], 0)
        text = combine([i[0] for i in items], customer.language, dice) if len(items) > 1 else items[0][0]
        out.labels.append({"source": "survey", "ref": response, "question": None if qid == "*" else qid, "customer": customer.id,
                           "persona": customer.segment.persona, "language": customer.language, "tone": items[0][1],
                           "topics": sorted({k for i in items for k in i[2]}), "text": text})
        comments[qid] = [(text, items[0][1], ())]
    out.surveys.append({"response": response, "customer": customer.id, "at": stamp, "answers": answers,
                        "comments": {qid: v[0][0] for qid, v in comments.items()}})
    return bool(comments)


def _review(dice: Dice, out: _Quarter, customer: _Customer, text: str, tone: str, keys: tuple[str, ...],
            at: datetime, next_id: NextId, period: Period) -> bool:
    """One review; returns whether it carries the customer's id."""
    anonymous = dice.random() < ANONYMOUS_REVIEWS
    rid = f"rv-{period}-{next_id('review'):06d}"
    utc = at.replace(tzinfo=ZoneInfo(TIMEZONE)).astimezone(ZoneInfo("UTC"))
    out.reviews.append({"id": rid, "user": None if anonymous else customer.id, "created": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "stars": _draw(dice, _RATING[tone], 1), "body": text, "site": dice.pick(_REVIEW_SITES)})
    out.labels.append({"source": "review", "ref": rid, "question": None, "customer": None if anonymous else customer.id,
                       "persona": customer.segment.persona, "language": customer.language, "tone": tone, "topics": sorted(set(keys)),
                       "text": text})
    return not anonymous
