"""Quarterly periods: parsing `2025Q3`, bounds in a timezone, and neighbours.

A period is a calendar quarter. Its rows are those with start <= timestamp < end, so a row stamped
exactly at the end of a quarter belongs to the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cjm_tasks.errors import CjmError

# ASCII digits only: \d would take other scripts' digits, and int() would read them.
_PERIOD_RE = re.compile(r"([0-9]{4})Q([1-4])")
# Four digits, and years a journey map can be about: 0000Q1 would be written as 0Q1.
FIRST_YEAR, LAST_YEAR = 1900, 2999


class PeriodError(CjmError, ValueError):
    """A period string or timezone that cannot be understood (exit code 2: a usage error)."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Period:
    """One calendar quarter, e.g. ``Period(2025, 3)`` is ``2025Q3``."""

    year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``YYYYQn`` (year 1900..2999); raise :class:`PeriodError` naming the expected form otherwise.

        User-supplied periods go through :func:`cjm_tasks.ids.period`, which calls this.
        """
        match = _PERIOD_RE.fullmatch(text.strip().upper()) if isinstance(text, str) else None
        if not match or not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
            from cjm_tasks.ids import shown

            raise PeriodError(f"period {shown(text)} is not a quarter like 2025Q3 "
                              f"(YYYYQn: a year {FIRST_YEAR}..{LAST_YEAR}, n = 1..4)")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, moment: date | datetime) -> Period:
        """The quarter that contains a date or datetime (in the datetime's own timezone)."""
        return cls(moment.year, (moment.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.quarter}"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * (self.quarter - 1) + 1, 1)

    def start(self, tz: str = "UTC") -> datetime:
        """The first instant of the quarter in ``tz`` (timezone-aware)."""
        d = self.first_day
        return datetime(d.year, d.month, d.day, tzinfo=zone(tz))

    def end(self, tz: str = "UTC") -> datetime:
        """The first instant of the next quarter in ``tz``: the exclusive end of this one."""
        return self.next().start(tz)

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.quarter == 4 else Period(self.year, self.quarter + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 4) if self.quarter == 1 else Period(self.year, self.quarter - 1)

    def range(self, count: int) -> list[Period]:
        """``count`` consecutive quarters starting with this one."""
        out, p = [], self
        for _ in range(count):
            out.append(p)
            p = p.next()
        return out


def zone(name: str) -> ZoneInfo:
    """A ZoneInfo for an IANA name; raise :class:`PeriodError` for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"unknown timezone {name!r} (expected an IANA name such as UTC or Europe/Moscow)") from exc
