"""The statistics of a diff: two-sample tests from the summaries a map stores (proportions, means
with their intervals, NPS), the 95% interval of a difference of proportions, and the
Benjamini-Hochberg adjustment over a refresh's tests.
"""

from __future__ import annotations

import math


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value that x1/n1 and x2/n2 differ (Fisher exact for small counts)."""
    from scipy import stats

    if n1 <= 0 or n2 <= 0:
        return None
    x1, x2 = min(max(0, x1), n1), min(max(0, x2), n2)
    pooled = (x1 + x2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected < 5:
        return float(stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(x1 / n1 - x2 / n2) / se))


def difference_interval(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float] | None:
    """x2/n2 - x1/n1 with its 95% interval (Newcombe's hybrid score method); None without data."""
    from cjm_tasks.maps.barriers import wilson

    if n1 <= 0 or n2 <= 0:
        return None
    x1, x2 = min(max(0, x1), n1), min(max(0, x2), n2)
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def _sd_from_interval(mean: float, interval: list[float] | None, n: int) -> float | None:
    from scipy import stats

    if interval is None or n < 2:
        return None
    return (interval[1] - interval[0]) / 2 / stats.t.ppf(0.975, n - 1) * math.sqrt(n)


def means_p(m1: float, ci1: list[float] | None, n1: int, m2: float, ci2: list[float] | None, n2: int) -> float | None:
    """Welch's t-test p-value from summary statistics (None when a side has < 2 samples)."""
    from scipy import stats

    sd1, sd2 = _sd_from_interval(m1, ci1, n1), _sd_from_interval(m2, ci2, n2)
    if sd1 is None or sd2 is None:
        return None
    if sd1 == 0 and sd2 == 0:
        return 1.0 if m1 == m2 else 0.0
    return float(stats.ttest_ind_from_stats(m1, sd1, n1, m2, sd2, n2, equal_var=False).pvalue)


def nps_p(v1: float, ci1: list[float] | None, n1: int, v2: float, ci2: list[float] | None, n2: int) -> float | None:
    from scipy import stats

    if ci1 is None or ci2 is None or n1 < 1 or n2 < 1:
        return None
    se1, se2 = (ci1[1] - ci1[0]) / 2 / 1.96, (ci2[1] - ci2[0]) / 2 / 1.96
    se = math.sqrt(se1 ** 2 + se2 ** 2)
    if se == 0:
        return 1.0 if v1 == v2 else 0.0
    return float(2 * stats.norm.sf(abs(v1 - v2) / se))


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q-values), None where the test could not run."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, i = indexed[rank - 1]
        running = min(running, p * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted
