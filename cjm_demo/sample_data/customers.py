"""Customers: a registry over all quarters; each quarter enrols ~35 % returning customers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cjm_tasks.periods import Period

from cjm_demo.sample_data.arrays import _customer_ids, _pick
from cjm_demo.sample_data.world import _PERSONA_MODELS, _REGIONS, _RU_SHARE, _SIGNUP_CHANNELS, _TAG_COHORT, _World

_RETURNING_SHARE = 0.35


@dataclass(frozen=True)
class _Cohort:
    customers: np.ndarray      # customer numbers, sorted
    persona: np.ndarray
    returning: np.ndarray
    persona_counts: np.ndarray
    new_customers: pd.DataFrame  # rows of customers.csv created for this quarter


class _CustomerRegistry:
    """Persona and language of every customer created so far, by customer number."""

    def __init__(self, world: _World) -> None:
        self.world = world
        self.persona = np.zeros(0, dtype=np.int8)
        self.lang = np.zeros(0, dtype=np.int8)

    @property
    def size(self) -> int:
        return int(self.persona.size)

    def enrol(self, period: Period, index: int, n_active: int, seed: int) -> _Cohort:
        """The active customers of the ``index``-th quarter: returning ones and newly created ones."""
        world, rng = self.world, np.random.default_rng([seed, _TAG_COHORT, period.year, period.quarter])
        shares = np.array([_PERSONA_MODELS[p].share for p in world.personas])
        counts = _apportion(n_active, shares)
        returning_counts = np.round(counts * _RETURNING_SHARE).astype(np.int64)
        returning: list[np.ndarray] = []
        if index > 0:
            for p in range(len(counts)):
                pool = np.flatnonzero(self.persona == p)
                take = min(int(returning_counts[p]), pool.size)
                returning_counts[p] = take
                returning.append(np.sort(rng.choice(pool, size=take, replace=False)))
            new_counts = counts - returning_counts
        else:
            new_counts = counts
        new_persona = rng.permutation(np.repeat(np.arange(len(counts)), new_counts)).astype(np.int8)
        first = self.size
        new_customers, pre_existing = self._create(rng, period, new_persona, pre_existing=index == 0)
        # Returning customers have lower numbers than this quarter's new ones: sorted, they come first.
        customers = np.sort(np.concatenate(returning + [np.arange(first, first + new_persona.size)]))
        is_returning = np.concatenate([np.ones(customers.size - new_persona.size, dtype=bool), pre_existing])
        return _Cohort(customers=customers, persona=self.persona[customers].astype(np.int64),
                       returning=is_returning, persona_counts=counts, new_customers=new_customers)

    def _create(self, rng: np.random.Generator, period: Period, persona: np.ndarray,
                pre_existing: bool) -> tuple[pd.DataFrame, np.ndarray]:
        """Create customers of the given personas: their customers.csv rows and which signed up earlier."""
        params, n = self.world.params, persona.size
        ages = params["ages"][persona]
        age = rng.integers(ages[:, 0], ages[:, 1] + 1)
        region = _pick(rng, params["region_mix"][persona])
        channel = _pick(rng, params["channel_mix"][persona])
        first_day = np.datetime64(period.first_day.isoformat(), "D")
        days = (np.datetime64(period.next().first_day.isoformat(), "D") - first_day).astype(int)
        signup = first_day + rng.integers(0, days, n)
        # The first quarter already has returning customers: they signed up in the two years before.
        earlier = rng.random(n) < _RETURNING_SHARE if pre_existing else np.zeros(n, dtype=bool)
        signup = np.where(earlier, first_day - rng.integers(1, 731, n), signup)
        lang = (rng.random(n) < _RU_SHARE).astype(np.int8)
        segments = np.array([_PERSONA_MODELS[p].segment for p in self.world.personas], dtype=object)
        first = self.size
        rows = pd.DataFrame({
            "customer_id": _customer_ids(np.arange(first, first + n)).to_numpy(zero_copy_only=False),
            "segment": segments[persona],
            "age": age.astype(np.int64),
            "region": np.array(_REGIONS, dtype=object)[region],
            "signup_channel": np.array(_SIGNUP_CHANNELS, dtype=object)[channel],
            "signup_date": np.datetime_as_string(signup, unit="D"),
        })
        self.persona = np.concatenate([self.persona, persona])
        self.lang = np.concatenate([self.lang, lang])
        return rows, earlier


def _apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Integer counts proportional to ``shares`` that add up to ``total`` (largest remainder)."""
    raw = total * shares / shares.sum()
    counts = np.floor(raw).astype(np.int64)
    counts[np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts
