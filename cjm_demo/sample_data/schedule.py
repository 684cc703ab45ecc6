"""Planted barriers: a deterministic schedule of strengths per period and persona, the ground
truth it stands for, and each period's plan (the rates and text probabilities the block
simulation draws from).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from cjm_tasks.periods import Period

from cjm_demo.sample_data.world import (
    BASE_CUSTOMERS, _BASELINE, _Barrier, _COMMENT_SHARE, _METRICS, _PERSONA_MODELS, _TAG_SCHEDULE, _World,
)

log = logging.getLogger(__name__)

_NOISE_RATE = 0.005
# Anonymous marketplace reviews have their own mild, constant complaints.
_ANONYMOUS_BARRIERS = {"out_of_stock": 0.1, "not_as_promised": 0.12}

# Bounds of planted-barrier strengths (the freshly planted catalog level is the world's
# catalog_low).
_CATALOG_MAX_LOW, _CATALOG_CAP, _STAGE_CAP = 0.28, 0.5, 0.55
_RATE_LOW, _RATE_FLOOR, _RATE_CAP = 2.2, 1.8, 0.8  # multiples of the threshold; cap is a rate
# A checkout drop-off keeps conversion near 0.15 and is never worsened or improved: any lower
# and too few customers are left downstream for the purchase rates to mean anything.
_CONVERSION_LOW, _CONVERSION_FLOOR, _CONVERSION_CAP = 2.0, 2.0, 2.4  # threshold / conversion
_DROP_OFF_MIN_PURCHASERS = 50  # at scale 1
_CSAT_LOW, _CSAT_FLOOR, _CSAT_CAP = 0.5, 0.35, 1.5  # points below the threshold
_WORSEN = (2.5, 2.9)
_IMPROVE = (0.38, 0.5)
_MIN_ACTIVE, _MAX_ACTIVE = 2, 4
_MIN_CHANGES = 3  # per change pair, across personas
# Cancelling or failing more orders than this leaves too few delivered orders to see anything
# planted after the purchase; the scheduler keeps such barriers apart.
_THIN_OUT_RATE = 0.3


def _bounds(world: _World, persona: int, barrier: _Barrier) -> tuple[float, float, float]:
    """(fresh level, weakest detectable level, strongest allowed level) of a barrier's strength."""
    if barrier.mechanism == "catalog":
        low = float(world.catalog_low[persona, world.stages.index(barrier.stage)])
        return low, low, _CATALOG_CAP
    if barrier.mechanism == "conversion":
        return _CONVERSION_LOW, _CONVERSION_FLOOR, _CONVERSION_CAP
    if barrier.mechanism == "csat":
        return _CSAT_LOW, _CSAT_FLOOR, _CSAT_CAP
    assert barrier.threshold is not None
    return _RATE_LOW * barrier.threshold, _RATE_FLOOR * barrier.threshold, _RATE_CAP


def _thins_out(barrier: _Barrier, strength: float) -> bool:
    """Whether a barrier leaves too few customers after its stage for other barriers to show there."""
    return barrier.mechanism == "conversion" or (
        barrier.mechanism in ("cancel", "fail") and strength > _THIN_OUT_RATE)


def _value(barrier: _Barrier, strength: float) -> float:
    """The metric value (or catalog intensity) that a strength stands for."""
    if barrier.mechanism == "conversion":
        return round(barrier.threshold / strength, 4)
    if barrier.mechanism == "csat":
        return round(barrier.threshold - strength, 4)
    return round(strength, 4)


class _Scheduler:
    """Plans which barriers are active per period and persona; all randomness from one stream."""

    def __init__(self, world: _World, seed: int) -> None:
        self.world = world
        self.rng = np.random.default_rng([seed, _TAG_SCHEDULE])

    def stage_load(self, persona: int, state: dict[str, float], stage: str, skip: str = "") -> float:
        return sum(x for b, x in state.items()
                   if b != skip and self.world.barriers[b].mechanism == "catalog"
                   and self.world.barriers[b].stage == stage)

    def candidates(self, persona: int, state: dict[str, float], touched: Collection[str] = ()) -> list[str]:
        """Barriers that may be planted next; ``touched`` ones already changed in this pair."""
        world, out = self.world, []
        for bid, barrier in world.barriers.items():
            if bid in state or bid in touched:
                continue
            low, _floor, cap = _bounds(world, persona, barrier)
            if low > cap or (barrier.mechanism == "catalog" and (
                    low > _CATALOG_MAX_LOW or self.stage_load(persona, state, barrier.stage) + low > _STAGE_CAP)):
                continue
            if barrier.mechanism == "conversion" and \
                    self.purchasers_at_scale_1(persona, barrier, low) < _DROP_OFF_MIN_PURCHASERS:
                continue
            if barrier.mechanism == "csat" and any(world.barriers[b].mechanism == "csat" for b in state):
                continue
            if self.consistent({**state, bid: low}):
                out.append(bid)
        return out

    def consistent(self, state: dict[str, float]) -> bool:
        """Whether no barrier removes most of the customers that another barrier needs downstream."""
        stages = self.world.stages
        for bid, strength in state.items():
            if not _thins_out(self.world.barriers[bid], strength):
                continue
            after = stages.index(self.world.barriers[bid].stage)
            if any(stages.index(self.world.barriers[other].stage) > after
                   and self.world.barriers[other].stage != "reminder" for other in state if other != bid):
                return False
        return True

    def purchasers_at_scale_1(self, persona: int, barrier: _Barrier, strength: float) -> float:
        """Customers of the persona still buying at scale 1 under a checkout drop-off of ``strength``."""
        model = _PERSONA_MODELS[self.world.personas[persona]]
        return model.share * BASE_CUSTOMERS * model.evaluation * _value(barrier, strength)

    def pick(self, persona: int, options: list[str]) -> str:
        affinity = _PERSONA_MODELS[self.world.personas[persona]].affinity
        weights = np.array([4.0 if self.world.barriers[b].affinity_key in affinity else 1.0 for b in options])
        return options[int(self.rng.choice(len(options), p=weights / weights.sum()))]

    def worsen_limit(self, persona: int, state: dict[str, float], bid: str) -> float:
        """The largest factor a barrier's strength may be multiplied by (0 when it may not grow)."""
        barrier = self.world.barriers[bid]
        _low, _floor, cap = _bounds(self.world, persona, barrier)
        limit = cap / state[bid]
        if barrier.mechanism == "catalog":
            limit = min(limit, (_STAGE_CAP - self.stage_load(persona, state, barrier.stage, skip=bid)) / state[bid])
        # Thinning out is a threshold: if the smallest worsening keeps the state consistent, all do.
        if not self.consistent({**state, bid: state[bid] * _WORSEN[0]}):
            return 0.0
        return limit

    def options(self, kind: str, persona: int, state: dict[str, float], touched: set[str],
                refill: bool = False) -> list[str]:
        free = [b for b in state if b not in touched]
        if kind == "new":
            return self.candidates(persona, state, touched) if len(state) < _MAX_ACTIVE else []
        if kind == "resolved":
            # With ``refill`` a persona at the minimum may resolve one barrier and gain another.
            can_refill = refill and bool(self.candidates(persona, state, touched))
            return free if len(state) > _MIN_ACTIVE or can_refill else []
        if kind == "worsened":
            return [b for b in free if self.worsen_limit(persona, state, b) >= _WORSEN[0]]
        if kind == "improved":
            return [b for b in free
                    if state[b] * _IMPROVE[1] >= _bounds(self.world, persona, self.world.barriers[b])[1]]
        raise AssertionError(kind)

    def plant(self, persona: int, state: dict[str, float], bid: str, strong: bool) -> None:
        low, _floor, cap = _bounds(self.world, persona, self.world.barriers[bid])
        state[bid] = round(low * self.rng.uniform(1.0, 1.15), 4)
        if strong and self.worsen_limit(persona, state, bid) >= _WORSEN[0]:
            state[bid] = round(state[bid] * self.rng.uniform(_WORSEN[0], min(_WORSEN[1], self.worsen_limit(
                persona, state, bid))), 4)

    def apply(self, kind: str, persona: int, state: dict[str, float], touched: set[str],
              refill: bool = False) -> bool:
        options = self.options(kind, persona, state, touched, refill)
        if not options:
            return False
        bid = self.pick(persona, options)
        touched.add(bid)
        if kind == "new":
            self.plant(persona, state, bid, strong=self.rng.random() < 0.35)
        elif kind == "resolved":
            del state[bid]
        elif kind == "worsened":
            factor = self.rng.uniform(_WORSEN[0], min(_WORSEN[1], self.worsen_limit(persona, state, bid)))
            state[bid] = round(state[bid] * factor, 4)
        else:
            floor = _bounds(self.world, persona, self.world.barriers[bid])[1]
            state[bid] = round(max(state[bid] * self.rng.uniform(*_IMPROVE), floor), 4)
        return True

    def initial(self) -> list[dict[str, float]]:
        states = []
        for persona in range(len(self.world.personas)):
            state: dict[str, float] = {}
            # The first barrier is always worsenable, so the first change pair can worsen something.
            first = [b for b in self.candidates(persona, state)
                     if _bounds(self.world, persona, self.world.barriers[b])[2]
                     >= _bounds(self.world, persona, self.world.barriers[b])[0] * 1.15 * _WORSEN[0]]
            worsenable = self.pick(persona, first)
            self.plant(persona, state, worsenable, strong=False)
            for _ in range(int(self.rng.integers(_MIN_ACTIVE, _MAX_ACTIVE)) - 1):
                # Keep room for the first barrier to worsen.
                options = [b for b in self.candidates(persona, state)
                           if self.worsen_limit(persona, {**state, b: _bounds(
                               self.world, persona, self.world.barriers[b])[0] * 1.15 * _WORSEN[1]}, worsenable)
                           >= _WORSEN[0]]
                if options:
                    self.plant(persona, state, self.pick(persona, options), strong=self.rng.random() < 0.4)
            states.append(state)
        return states

    def change(self, states: list[dict[str, float]], cycle: int) -> list[dict[str, float]]:
        states = [dict(s) for s in states]
        touched: list[set[str]] = [set() for _ in states]
        # Cycles alternate so that a worsened barrier can improve in the next cycle and vice
        # versa; extra changes of a cycle stick to its own direction for the same reason.
        required = ("new", "worsened") if cycle % 2 == 0 else ("improved", "resolved")
        extra = ["new", "resolved", required[1] if cycle % 2 == 0 else required[0]]
        order = [int(p) for p in self.rng.permutation(len(states))]
        for i, kind in enumerate(required):
            candidates = order[i:] + order[:i]
            if not any(self.apply(kind, p, states[p], touched[p], refill=True) for p in candidates):
                log.warning("demo schedule: no persona can take a %r change in cycle %d", kind, cycle)
        for p, state in enumerate(states):
            if self.rng.random() < 0.6:
                self.apply_any(extra, p, state, touched[p])
        for p in order:
            if sum(len(t) for t in touched) >= _MIN_CHANGES:
                break
            self.apply_any(extra, p, states[p], touched[p])
        for p, state in enumerate(states):
            while len(state) < _MIN_ACTIVE and self.apply("new", p, state, touched[p]):
                pass
        return states

    def apply_any(self, kinds: list[str], persona: int, state: dict[str, float], touched: set[str]) -> bool:
        """Apply the first feasible change of ``kinds`` in random order."""
        return any(self.apply(str(kind), persona, state, touched) for kind in self.rng.permutation(kinds))


def _schedule_barriers(world: _World, n_periods: int, seed: int) -> list[list[dict[str, float]]]:
    """Active barrier strengths per period and persona; even pairs change, odd pairs are noise-only."""
    scheduler = _Scheduler(world, seed)
    states = [scheduler.initial()]
    for pair in range(n_periods - 1):
        if pair % 2 == 0:
            states.append(scheduler.change(states[-1], cycle=pair // 2))
        else:
            states.append([dict(s) for s in states[-1]])
    return states


def _ground_truth(world: _World, periods: list[Period], states: list[list[dict[str, float]]],
                  seed: int, scale: float) -> dict:
    def entry(bid: str, strength: float) -> dict:
        barrier = world.barriers[bid]
        if barrier.kind == "catalog":
            return {"id": bid, "kind": "catalog", "stage": barrier.stage, "intensity": strength}
        return {"id": bid, "kind": "metric", "stage": barrier.stage, "metric": barrier.metric,
                "value": _value(barrier, strength)}

    def order(bid: str) -> tuple[int, str]:
        return world.stages.index(world.barriers[bid].stage), bid

    active = {str(period): {persona: [entry(b, state[b]) for b in sorted(state, key=order)]
                            for persona, state in zip(world.personas, states[i], strict=True)}
              for i, period in enumerate(periods)}
    changes, noise_only = [], []
    for i in range(len(periods) - 1):
        if i % 2 == 1:
            noise_only.append([str(periods[i]), str(periods[i + 1])])
        for persona, old, new in zip(world.personas, states[i], states[i + 1], strict=True):
            for bid in sorted(set(old) | set(new), key=order):
                if bid not in new:
                    kind = "resolved"
                elif bid not in old:
                    kind = "new"
                elif new[bid] > old[bid]:
                    kind = "worsened"
                elif new[bid] < old[bid]:
                    kind = "improved"
                else:
                    continue
                changes.append({"from": str(periods[i]), "to": str(periods[i + 1]), "persona": persona,
                                "barrier": bid, "change": kind})
    return {
        "seed": seed, "scale": float(scale), "periods": [str(p) for p in periods], "personas": list(world.personas),
        "active": active, "changes": changes, "noise_only": noise_only, "customers_per_period": {},
        "anonymous": [{"id": b, "kind": "catalog", "stage": world.barriers[b].stage, "intensity": x}
                      for b, x in _ANONYMOUS_BARRIERS.items() if b in world.barriers],
        "noise_rate": _NOISE_RATE,
    }


# ---------------------------------------------------------------------------------------------
# A period's plan: the rates and text probabilities the block simulation draws from.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    period: Period
    start: int                # epoch seconds
    length: int               # seconds
    conversion: np.ndarray    # [persona]
    cancel: np.ndarray
    fail: np.ndarray
    late: np.ndarray
    returns: np.ndarray
    mention: np.ndarray       # [persona row (+ anonymous), stage, catalog barrier] mention probability
    low_share: np.ndarray     # [persona row, stage] share of barrier-free csat answers scored low


def _plan_period(world: _World, period: Period, states: list[dict[str, float]]) -> _Plan:
    n_p, n_s, n_b = len(world.personas), len(world.stages), len(world.catalog)
    rates = {k: np.full(n_p, v) for k, v in _BASELINE.items()}
    conversion = world.params["conversion"].copy()
    mention = np.zeros((n_p + 1, n_s, n_b))
    for b, stage in enumerate(world.catalog_stage):
        # Background noise: any catalog barrier of the stage, whether planted or not.
        mention[:, stage, b] = _NOISE_RATE / np.count_nonzero(world.catalog_stage == stage)
    for bid, x in _ANONYMOUS_BARRIERS.items():
        if bid in world.catalog:
            b = world.catalog.index(bid)
            mention[n_p, world.catalog_stage[b], b] += x
    csat_target = np.full((n_p, n_s), np.nan)
    for p, state in enumerate(states):
        for bid, x in state.items():
            barrier = world.barriers[bid]
            if barrier.mechanism == "catalog":
                b = world.catalog.index(bid)
                mention[p, world.catalog_stage[b], b] += x
            elif barrier.mechanism == "conversion":
                conversion[p] = _value(barrier, x)
            elif barrier.mechanism == "csat":
                csat_target[p, world.stages.index(barrier.stage)] = _value(barrier, x)
            else:
                rates[barrier.mechanism][p] = x
    low_share = np.zeros((n_p + 1, n_s))
    csat = _METRICS.index("csat")
    hit_mean, low_mean = world.score_mean[csat, n_p + 1], world.score_mean[csat, n_p + 2]
    for p, s in zip(*np.nonzero(~np.isnan(csat_target)), strict=True):
        base = world.score_mean[csat, p]
        hit = _COMMENT_SHARE * mention[p, s].sum()
        share = (base - csat_target[p, s] - hit * (base - hit_mean)) / (base - low_mean)
        low_share[p, s] = np.clip(share / (1 - hit), 0.0, 1.0)
    start = int(period.start().timestamp())
    return _Plan(period=period, start=start, length=int(period.end().timestamp()) - start,
                 conversion=conversion, mention=mention, low_share=low_share, **rates)
