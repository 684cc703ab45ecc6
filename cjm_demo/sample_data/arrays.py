"""Vectorised helpers of the demo simulation: categorical draws, per-group sums and id columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of a probability matrix."""
    if probs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _group_starts(counts: np.ndarray) -> np.ndarray:
    starts = np.cumsum(counts) - counts
    return starts[counts > 0]


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarted at every group of ``counts`` consecutive rows."""
    total = np.cumsum(values)
    before = np.concatenate(([0.0], total))[np.cumsum(counts) - counts]
    return total - np.repeat(before, counts)


def _group_last(values: np.ndarray, counts: np.ndarray, default: np.ndarray) -> np.ndarray:
    out = default.copy()
    has = counts > 0
    out[has] = values[np.cumsum(counts)[has] - 1]
    return out


def _after(rng: np.random.Generator, moment: np.ndarray, mean_delay: float, length: int) -> np.ndarray:
    """A moment some time after ``moment`` that is still inside the period (wraps, never clips)."""
    delay = rng.exponential(mean_delay, moment.size) + 600
    room = np.maximum(length - 1 - moment, 1)
    return moment + (delay.astype(np.int64) % room)


def _customer_ids(numbers: np.ndarray) -> pa.Array:
    return _ids("C", numbers + 1, 7)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers, type=pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")
