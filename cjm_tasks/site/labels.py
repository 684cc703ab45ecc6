"""Interface labels and the formatting of numbers and names the pages share.

Labels come from ``templates/labels.yaml`` in ``project.language`` (``en`` or ``ru``); every
page, chart and export reads them through :func:`labels_for`. :class:`Formatter` writes numbers
as a reader of that language does. The helpers below turn a map's values into the words and
bands the pages show (a metric's label, an emotion's mood, a barrier's title and severity band).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from cjm_tasks.site.render import TEMPLATES

LABELS_FILE = TEMPLATES / "labels.yaml"
LANGUAGES = ("en", "ru")


@lru_cache(maxsize=1)
def load_labels() -> dict[str, dict[str, str]]:
    """Every interface label by language, from ``templates/labels.yaml``."""
    data = yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8"))
    return {lang: {str(k): str(v) for k, v in data[lang].items()} for lang in LANGUAGES}


def labels_for(language: str) -> dict[str, str]:
    """The labels of ``language`` (``en`` or ``ru``)."""
    return load_labels()[language]


@dataclass(frozen=True)
class Formatter:
    """Numbers as a reader of ``language`` writes them (decimal comma and spaced % in Russian)."""

    language: str

    def _decimal(self, text: str) -> str:
        return text.replace(".", ",") if self.language == "ru" else text

    def count(self, value: int | float | None) -> str:
        if value is None:
            return "—"
        text = f"{round(value):,}"
        return text.replace(",", "\u202f") if self.language == "ru" else text

    def num(self, value: float | None, digits: int = 2) -> str:
        return "—" if value is None else self._decimal(f"{value:.{digits}f}")

    def signed(self, value: float | None, digits: int = 2) -> str:
        return "—" if value is None else self._decimal(f"{value:+.{digits}f}").replace("-", "−")

    def pct(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        if digits == 0 and 0 < abs(value) < 0.01:
            digits = 1  # "0%" for a real 0.4% reads as "never"
        text = self._decimal(f"{value * 100:.{digits}f}")
        return f"{text}\u00a0%" if self.language == "ru" else f"{text}%"

    def share(self, value: float | None) -> str:
        """A prevalence with the precision of :func:`cjm_tasks.versions.wording.measure_text` (one decimal,
        two below 0.1%), so the pages and the emailed summary show the same numbers."""
        return self.pct(value, 2 if value is not None and 0 < value < 0.001 else 1)

    def points(self, value: float | None) -> str:
        """A difference of two proportions in percentage points, signed: "+3.3" (a difference
        that rounds to nothing is "0.0", not "−0.0")."""
        if value is None:
            return "—"
        points = round(100 * value, 1)
        return self.num(0.0, 1) if points == 0 else self.signed(points, 1)


def metric_label(t: dict[str, str], metric: str) -> str:
    """A metric's label in ``t`` (``m_<metric>``), else its name with spaces."""
    return t.get(f"m_{metric}") or metric.replace("_", " ")


def mood_of(emotion: float | None) -> str:
    """``positive``, ``mixed`` or ``negative``: the colour and word of an emotion (-1..1)."""
    if emotion is None:
        return "mixed"
    return "positive" if emotion >= 0.33 else "mixed" if emotion >= 0 else "negative"


def barrier_title(barrier: dict[str, Any]) -> str:
    """A barrier's title; an emerging theme's is a raw phrase still to be named, so it is quoted."""
    return f"“{barrier['title']}”" if barrier.get("kind") == "emerging" else barrier["title"]


def severity_band(severity: int | None) -> str:
    """``high``, ``mid`` or ``low``: the colour of a severity (0..100)."""
    severity = severity or 0
    return "high" if severity >= 70 else "mid" if severity >= 40 else "low"


def from_to(before: Any, after: Any) -> str:
    """A change as "before → after", a missing side as "—"."""
    return f"{'—' if before is None else before} → {'—' if after is None else after}"
