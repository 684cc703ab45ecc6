"""Per-stage measures of a map: scores on a 0-1 scale, means and NPS with 95% intervals, rounding,
and the emotion score that weighs the signals a stage has."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.config import CjmConfig

# Pseudo-count of the emotion score: a stage with few signals is pulled toward neutral.
EMOTION_PRIOR = 10


def scale01(values: pd.Series, metric: str, config: CjmConfig) -> pd.Series:
    """Scores scaled to [0, 1] where 1 is best (a scale whose lower end is better, like CES, inverted)."""
    low, high = config.metrics.scales.get(metric, (1, 5))
    scaled = ((values - low) / (high - low)).clip(0, 1)
    return 1 - scaled if config.better(metric) == "lower" else scaled


def mean_ci(values: pd.Series) -> tuple[float | None, int, list[float] | None]:
    from scipy import stats

    values = values.dropna()
    n = len(values)
    if n == 0:
        return None, 0, None
    mean = float(values.mean())
    if n < 2:
        return mean, n, None
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, n, [round(mean - half, 3), round(mean + half, 3)]


def nps_ci(values: pd.Series) -> tuple[float | None, int, list[float] | None]:
    values = values.dropna()
    n = len(values)
    if n == 0:
        return None, 0, None
    promoters = float((values >= 9).mean())
    detractors = float((values <= 6).mean())
    nps = 100 * (promoters - detractors)
    half = 100 * 1.96 * math.sqrt(max(0.0, promoters + detractors - (promoters - detractors) ** 2) / n)
    return nps, n, [round(nps - half, 1), round(nps + half, 1)]


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(float(value), digits)


def emotion(signals: list[tuple[float | None, int]]) -> float | None:
    """Sample-weighted mean of signals in [-1, 1] (weight n / (n + 10)); None without signals."""
    weighted = [(v, n / (n + EMOTION_PRIOR)) for v, n in signals if v is not None and n > 0 and math.isfinite(v)]
    total = sum(w for _, w in weighted)
    return round(sum(v * w for v, w in weighted) / total, 3) if total else None
