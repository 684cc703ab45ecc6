"""One block of customers: the journey as sales events, then their survey answers and reviews."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cjm_demo.sample_data.arrays import _after, _group_cumsum, _group_last, _group_starts, _pick
from cjm_demo.sample_data.schedule import _Plan
from cjm_demo.sample_data.world import (
    _CHANNELS, _COMMENT_SHARE, _EVENT_TYPES, _METRICS, _REVIEW_RATE, _RU_SHARE, _SCORES, _STAGE_EVENTS, _World,
)

_HOUR = 3600.0
_DAY = 86400.0
_ANONYMOUS_REVIEWS_PER_CUSTOMER = 0.06  # ~15 % of ~0.4 reviews per customer
_RETRY_AFTER_FAILURE = 0.6
_MAX_EXTRA_ORDERS = 4

_EV = {name: i for i, name in enumerate(_EVENT_TYPES)}
_FIXED_CHANNEL = {"social_click": "social", "email_open": "email", "sms_click": "sms", "push_open": "app"}
_EVALUATION_MIX = (0.6, 0.15, 0.25)
_LOYALTY_MIX = (0.55, 0.2, 0.25)
# Stages that anonymous reviews are about.
_ANONYMOUS_STAGE_MIX = {"awareness": 0.1, "evaluation": 0.15, "purchase": 0.35, "experience": 0.35,
                        "loyalty": 0.05, "reminder": 0.0}
_SENTIMENT_CUTS = {"csat": (2, 4), "ces": (3, 6), "nps": (6, 9)}  # (negative up to, positive from)


class _Events:
    """Sales events of a block, collected per kind and concatenated once."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, customer: np.ndarray, offset: np.ndarray, event: int | np.ndarray,
            channel: np.ndarray, order: np.ndarray | None = None, amount: np.ndarray | None = None) -> None:
        n = customer.size
        self.parts.append((
            customer, offset.astype(np.float64), np.broadcast_to(np.asarray(event, dtype=np.int64), (n,)),
            channel, np.full(n, -1, dtype=np.int64) if order is None else order,
            np.full(n, np.nan) if amount is None else amount))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(column) for column in zip(*self.parts, strict=True))

    def latest(self, n: int) -> np.ndarray:
        """Offset of each customer's latest event so far."""
        latest = np.zeros(n)
        for customer, offset, *_rest in self.parts:
            np.maximum.at(latest, customer, offset)
        return latest


@dataclass(frozen=True)
class _BlockData:
    sales: dict[str, np.ndarray]
    orders: int
    surveys: dict[str, np.ndarray]
    reviews: dict[str, np.ndarray]


def _simulate_block(rng: np.random.Generator, world: _World, plan: _Plan, customers: np.ndarray,
                    persona: np.ndarray, returning: np.ndarray, lang: np.ndarray) -> _BlockData:
    params, n = world.params, customers.size
    idx = np.arange(n)
    events = _Events()
    main_channel = _pick(rng, params["channel_mix"][persona])

    def channels(c: np.ndarray) -> np.ndarray:
        # Mostly the customer's own channel, sometimes another one of the persona's mix.
        other = _pick(rng, params["channel_mix"][persona[c]])
        return np.where(rng.random(c.size) < 0.7, main_channel[c], other)

    # Awareness: returning customers know the shop and need fewer touches.
    k = 1 + rng.poisson(np.where(returning, 0.5, 1.5))
    c = np.repeat(idx, k)
    gaps = rng.exponential(6 * _HOUR, c.size)
    gaps[_group_starts(k)] = 0.0
    t = _group_cumsum(gaps, k)
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["awareness"]])
    events.add(c, t, kinds[_pick(rng, params["awareness_mix"][persona[c]])], channels(c))
    awareness_end = _group_last(t, k, np.zeros(n))

    # Evaluation: product views, comparisons; a purchaser's last step is adding to the cart.
    evaluated = rng.random(n) < params["evaluation"][persona]
    purchased = evaluated & (rng.random(n) < plan.conversion[persona])
    k = np.where(evaluated, 1 + rng.poisson(params["views"][persona]), 0)
    c = np.repeat(idx, k)
    gaps = rng.exponential(8 * _HOUR, c.size)
    gaps[_group_starts(k)] = 0.0
    t = (awareness_end + rng.exponential(1.5 * _DAY, n) + 600)[c] + _group_cumsum(gaps, k)
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["evaluation"]])
    kind = kinds[_pick(rng, np.broadcast_to(_EVALUATION_MIX, (c.size, 3)))]
    last = np.cumsum(k) - 1
    kind[last[purchased]] = _EV["add_to_cart"]
    events.add(c, t, kind, channels(c))
    evaluation_end = _group_last(t, k, awareness_end)

    # Purchase: a failed payment is often retried, so failures show as extra checkout attempts.
    n_orders = np.where(purchased, 1 + np.minimum(rng.poisson(params["orders"][persona]), _MAX_EXTRA_ORDERS), 0)
    oc = np.repeat(idx, n_orders)
    m = oc.size
    first = np.zeros(m, dtype=bool)
    first[_group_starts(n_orders)] = True
    gaps = np.where(first, rng.exponential(_DAY, m) + 300, rng.exponential(20 * _DAY, m) + _DAY)
    order_start = evaluation_end[oc] + _group_cumsum(gaps, n_orders)
    op = persona[oc]
    order_no = np.arange(m)
    order_channel = channels(oc)
    fail = plan.fail[op]
    r = rng.random((5, m))
    fail1 = r[0] < fail
    retry1 = fail1 & (r[1] < _RETRY_AFTER_FAILURE)
    fail2 = retry1 & (r[2] < fail)
    retry2 = fail2 & (r[3] < _RETRY_AFTER_FAILURE)
    fail3 = retry2 & (r[4] < fail)
    attempts = 1 + retry1.astype(np.int64) + retry2
    for j, (tried, failed) in enumerate(((np.ones(m, dtype=bool), fail1), (retry1, fail2), (retry2, fail3))):
        at = order_start + j * 900.0
        events.add(oc[tried], at[tried], _EV["checkout_started"], order_channel[tried], order_no[tried])
        lost = tried & failed
        events.add(oc[lost], at[lost] + 120, _EV["payment_failed"], order_channel[lost], order_no[lost])
    placed = ~np.select([attempts == 1, attempts == 2], [fail1, fail2], fail3)
    placed_at = order_start + (attempts - 1) * 900.0 + rng.uniform(200, 500, m)
    amount = _amounts(rng, params, op)
    events.add(oc[placed], placed_at[placed], _EV["order_placed"], order_channel[placed], order_no[placed],
               amount[placed])
    r = rng.random((4, m))
    cancelled = placed & (r[0] < plan.cancel[op])
    events.add(oc[cancelled], (placed_at + rng.exponential(8 * _HOUR, m) + 300)[cancelled],
               _EV["order_cancelled"], order_channel[cancelled], order_no[cancelled])
    delivered = placed & ~cancelled
    promised = rng.uniform(1, 4, m) * _DAY
    late = delivered & (r[1] < plan.late[op])
    delivered_at = np.where(late, placed_at + promised + rng.uniform(1, 8, m) * _DAY,
                            placed_at + promised * rng.uniform(0.3, 1.0, m))
    events.add(oc[late], (placed_at + promised)[late], _EV["delivery_late"], order_channel[late], order_no[late])
    events.add(oc[delivered], delivered_at[delivered], _EV["order_delivered"], order_channel[delivered],
               order_no[delivered])

    # Experience: late or returned orders send more customers to support.
    registered_at = delivered_at + rng.exponential(_DAY, m) + 600
    returned = delivered & (r[2] < plan.returns[op])
    support = delivered & (r[3] < params["support"][op] + 0.3 * late + 0.4 * returned)
    events.add(oc[delivered], registered_at[delivered], _EV["product_registered"], channels(oc[delivered]),
               order_no[delivered])
    events.add(oc[returned], (registered_at + rng.uniform(1, 14, m) * _DAY)[returned], _EV["return_requested"],
               channels(oc[returned]), order_no[returned])
    events.add(oc[support], (delivered_at + rng.uniform(0.5, 10, m) * _DAY)[support], _EV["support_contact"],
               channels(oc[support]), order_no[support])
    first_registered = np.full(n, np.inf)
    np.minimum.at(first_registered, oc[delivered], registered_at[delivered])

    # Loyalty follows a delivered order: nobody comes back to a shop that never delivered.
    loyal = np.isfinite(first_registered) & (rng.random(n) < params["loyalty"][persona])
    k = np.where(loyal, 1 + rng.poisson(0.8, n), 0)
    c = np.repeat(idx, k)
    gaps = rng.exponential(12 * _DAY, c.size)
    gaps[_group_starts(k)] = rng.exponential(10 * _DAY, np.count_nonzero(k)) + _DAY
    t = np.where(np.isfinite(first_registered), first_registered, 0.0)[c] + _group_cumsum(gaps, k)
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["loyalty"]])
    kind = kinds[_pick(rng, np.broadcast_to(_LOYALTY_MIX, (c.size, 3)))]
    repeat = kind == _EV["repeat_order"]
    repeat_no = np.full(c.size, -1, dtype=np.int64)
    repeat_no[repeat] = m + np.arange(np.count_nonzero(repeat))
    repeat_amount = np.where(repeat, _amounts(rng, params, persona[c]), np.nan)
    events.add(c, t, kind, channels(c), repeat_no, repeat_amount)

    # Reminders come anywhere along the journey; loyal customers opted in, so more of them get one.
    reminded = rng.random(n) < np.where(loyal, 0.8, params["reminders"][persona])
    k = np.where(reminded, 1 + rng.poisson(1.0, n), 0)
    c = np.repeat(idx, k)
    lo, hi = awareness_end[c], events.latest(n)[c] + 7 * _DAY
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["reminder"]])
    events.add(c, lo + rng.random(c.size) * (hi - lo), kinds[_pick(rng, params["reminder_mix"][persona[c]])],
               channels(c))

    ev_c, ev_t, ev_kind, ev_channel, ev_order, ev_amount = events.arrays()
    fixed = np.array([_CHANNELS.index(_FIXED_CHANNEL[e]) if e in _FIXED_CHANNEL else -1 for e in _EVENT_TYPES])
    ev_channel = np.where(fixed[ev_kind] >= 0, fixed[ev_kind], ev_channel)

    # Fit every journey inside the quarter: shift it to a random start, squeeze the few that are
    # longer than the quarter, so that order along the journey is kept.
    span = np.zeros(n)
    np.maximum.at(span, ev_c, ev_t)
    limit = plan.length - 2 * _HOUR
    factor = np.minimum(1.0, 0.95 * limit / np.maximum(span, 1.0))
    offset0 = rng.random(n) * (limit - span * factor)
    seconds = np.floor(offset0[ev_c] + ev_t * factor[ev_c]).astype(np.int64)
    order = np.lexsort((np.arange(ev_c.size), seconds, ev_c))
    sales = {"customer": customers[ev_c[order]], "second": seconds[order], "event": ev_kind[order],
             "channel": ev_channel[order], "order": ev_order[order], "amount": np.round(ev_amount[order], 2)}

    stage_time = np.full((n, len(world.stages)), -1, dtype=np.int64)
    np.maximum.at(stage_time, (ev_c, world.event_stage[ev_kind]), seconds)
    surveys = _survey_answers(rng, world, plan, customers, persona, lang, stage_time)
    reviews = _reviews(rng, world, plan, customers, persona, lang, stage_time)
    return _BlockData(sales=sales, orders=m + int(np.count_nonzero(repeat)), surveys=surveys, reviews=reviews)


def _amounts(rng: np.random.Generator, params: dict[str, np.ndarray], persona: np.ndarray) -> np.ndarray:
    raw = rng.lognormal(np.log(params["amount_median"][persona]), params["amount_sigma"][persona])
    return np.round(np.clip(raw, params["amount_min"][persona], params["amount_max"][persona]), 2)


def _survey_answers(rng: np.random.Generator, world: _World, plan: _Plan, customers: np.ndarray,
                    persona: np.ndarray, lang: np.ndarray, stage_time: np.ndarray) -> dict[str, np.ndarray]:
    reached = stage_time[:, world.question_stage] >= 0
    invited = reached & (rng.random(reached.shape) < world.question_invite)
    c, q = np.nonzero(invited)
    stage = world.question_stage[q]
    second = _after(rng, stage_time[c, stage], 1.5 * _DAY, plan.length)
    metric = world.question_metric[q]
    score, text = _opinions(rng, world, plan, persona[c], stage, metric, lang[c], _COMMENT_SHARE)
    channel = _pick(rng, world.params["survey_channel_mix"][persona[c]])
    order = np.lexsort((q, second, c))
    return {"customer": customers[c][order], "question": q[order], "second": second[order],
            "score": score[order], "text": text[order], "channel": channel[order]}


def _reviews(rng: np.random.Generator, world: _World, plan: _Plan, customers: np.ndarray,
             persona: np.ndarray, lang: np.ndarray, stage_time: np.ndarray) -> dict[str, np.ndarray]:
    n, n_p = customers.size, len(world.personas)
    rate = np.array([_REVIEW_RATE[s] for s in world.stages])
    k = np.where(stage_time >= 0, rng.poisson(np.broadcast_to(rate, stage_time.shape)), 0)
    c, stage = np.nonzero(k)
    c, stage = np.repeat(c, k[c, stage]), np.repeat(stage, k[c, stage])
    second = _after(rng, stage_time[c, stage], 3 * _DAY, plan.length)
    order = np.lexsort((stage, second, c))
    c, stage, second = c[order], stage[order], second[order]

    # Anonymous marketplace reviews: no customer, no persona, a mild mix of their own.
    n_anon = int(rng.poisson(_ANONYMOUS_REVIEWS_PER_CUSTOMER * n))
    anon_mix = np.array([_ANONYMOUS_STAGE_MIX[s] for s in world.stages])
    anon_stage = _pick(rng, np.broadcast_to(anon_mix, (n_anon, anon_mix.size)))
    anon_second = np.sort(rng.integers(0, plan.length - 60, n_anon))
    anon_lang = (rng.random(n_anon) < _RU_SHARE).astype(np.int8)

    rows = np.concatenate([persona[c], np.full(n_anon, n_p)])
    stages = np.concatenate([stage, anon_stage])
    rating, text = _opinions(rng, world, plan, rows, stages, np.zeros(rows.size, dtype=np.int64),
                             np.concatenate([lang[c], anon_lang]), 1.0)
    source = _pick(rng, world.params["review_source_mix"][rows])
    return {"customer": np.concatenate([customers[c], np.full(n_anon, -1)]),
            "second": np.concatenate([second, anon_second]), "rating": rating, "text": text,
            "source": source, "lang": np.concatenate([lang[c], anon_lang])}


def _opinions(rng: np.random.Generator, world: _World, plan: _Plan, row: np.ndarray, stage: np.ndarray,
              metric: np.ndarray, lang: np.ndarray, text_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores and texts (None when there is none) for answers of persona rows at stages."""
    m, n_b, n_p = row.size, len(world.catalog), len(world.personas)
    u = rng.random((5, m))
    has_text = u[0] < text_share
    cum = np.cumsum(plan.mention[row, stage], axis=1)
    mention = (u[1][:, None] >= cum).sum(axis=1)
    mention = np.where(has_text & (mention < n_b), mention, -1)
    csat_like = np.asarray(metric) == _METRICS.index("csat")
    low = (mention < 0) & csat_like & (u[2] < plan.low_share[row, stage])
    dist = np.where(mention >= 0, n_p + 1, np.where(low, n_p + 2, row))
    score = (u[3][:, None] >= world.score_cum[metric, dist]).sum(axis=1)
    cuts = np.array([_SENTIMENT_CUTS[x] for x in _METRICS])
    score_min = np.array([_SCORES[x][0] for x in _METRICS])
    score = score + score_min[metric]
    negative = low | (score <= cuts[metric, 0])
    positive = ~negative & (score >= cuts[metric, 1])
    n_s = len(world.stages)
    category = np.where(mention >= 0, mention,
                        np.where(negative, n_b + stage, np.where(positive, n_b + 2 * n_s + stage, n_b + n_s + stage)))
    pools = world.pools
    key = pools.key(lang.astype(np.int64), category)
    pick = pools.offset[key] + (u[4] * pools.size[key]).astype(np.int64)
    text = np.where(has_text, pools.texts[pick], None)
    return score.astype(np.int64), text
