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
    """Mean, sample size and 95% t interval of the values that are not missing."""
    values = values.dropna()
    n = len(values)
    return mean_stat(float(values.mean()) if n else None, float(values.std(ddof=1)) if n > 1 else None, n)


def mean_stat(mean: float | None, std: float | None, n: int) -> tuple[float | None, int, list[float] | None]:
    """:func:`mean_ci` from the mean, the sample standard deviation and n (an engine's aggregates)."""
    from scipy import stats

    if n == 0 or mean is None:
        return None, 0, None
    mean = float(mean)
    if n < 2 or std is None or not math.isfinite(std):
        return mean, n, None
    half = float(stats.t.ppf(0.975, n - 1) * float(std) / math.sqrt(n))
    return mean, n, [round(mean - half, 3), round(mean + half, 3)]


def nps_ci(values: pd.Series) -> tuple[float | None, int, list[float] | None]:
    """NPS (promoters 9-10 minus detractors 0-6, in points), sample size and 95% interval."""
    values = values.dropna()
    return nps_stat(int((values >= 9).sum()), int((values <= 6).sum()), len(values))


def nps_stat(promoters: int, detractors: int, n: int) -> tuple[float | None, int, list[float] | None]:
    """:func:`nps_ci` from the counts of promoters and detractors among n answers."""
    if n == 0:
        return None, 0, None
    p, d = promoters / n, detractors / n
    nps = 100 * (p - d)
    half = 100 * 1.96 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n)
    return nps, n, [round(nps - half, 1), round(nps + half, 1)]


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(float(value), digits)


def emotion(signals: list[tuple[float | None, int]]) -> float | None:
    """Sample-weighted mean of signals in [-1, 1] (weight n / (n + 10)); None without signals."""
    weighted = [(v, n / (n + EMOTION_PRIOR)) for v, n in signals if v is not None and n > 0 and math.isfinite(v)]
    total = sum(w for _, w in weighted)
    return round(sum(v * w for v, w in weighted) / total, 3) if total else None
