"""What a sample shows of each column (:class:`Col`): fill, numbers, words, distinct values, and
whether it reads as timestamps (:class:`Stamp`: ISO 8601, day/month/year formats, epoch seconds or
milliseconds, Excel serial days)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cjm_tasks.ingest.scaffold.words import _is_id_name, _named

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Stamp:
    """A column read as timestamps: its format (None: stored as timestamps), how many parse, why."""

    format: str | None
    share: float
    evidence: str
    parsed: pd.Series       # UTC timestamps, aligned to the sample's rows
    undecided: bool = False  # day-first by default: no value told day from month


@dataclass
class Col:
    """What the sample shows of one column."""

    name: str
    rows: int
    texts: pd.Series        # non-empty values as text, aligned to the sample's rows
    numbers: pd.Series      # the values that are numbers
    numeric_share: float
    mean_length: float
    spaced: float           # share of values holding a space
    distinct: int
    native: str             # numeric, datetime, text
    stamp: Stamp | None = None

    @property
    def filled(self) -> int:
        return len(self.texts)

    @property
    def integers(self) -> bool:
        return bool(len(self.numbers)) and bool((self.numbers % 1 == 0).all())

    @property
    def numeric(self) -> bool:
        return self.filled > 0 and self.numeric_share >= 0.9

    @property
    def wordy(self) -> bool:
        return self.stamp is None and self.numeric_share < 0.5 and self.mean_length >= 12 and self.spaced >= 0.3

    @property
    def free_text(self) -> bool:
        """Words, mostly different from row to row (event names and categories repeat)."""
        return self.wordy and (self.distinct > 60 or self.distinct >= 0.5 * self.filled)

    @property
    def idlike(self) -> bool:
        return (self.stamp is None and self.filled > 0 and self.spaced < 0.05 and self.mean_length <= 64
                and not (self.numeric and not self.integers))

    @property
    def unique(self) -> bool:
        return self.filled == self.rows and self.distinct == self.filled

    def low_card(self, high: int = 20) -> bool:
        return self.stamp is None and 2 <= self.distinct <= high and self.distinct < self.filled and not self.free_text

    def small_scale(self) -> bool:
        """Whole numbers in 0..10 with few values: a score or rating."""
        if not self.numeric or not self.integers or self.stamp is not None:
            return False
        return self.numbers.min() >= 0 and self.numbers.max() <= 10 and self.distinct <= 11


def profile(frame: pd.DataFrame) -> dict[str, Col]:
    """Profile every column of a sample, timestamps included."""
    import numpy as np
    import pandas as pd

    cols = {}
    for name in frame.columns:
        series = frame[name]
        present = series[series.notna()]
        native = "text"
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            native, texts, numbers = "datetime", present.astype(str), pd.Series(dtype="float64")
        elif pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            native, numbers = "numeric", present.astype("float64")
            texts = present.astype(str)
        else:
            if series.dtype == object and len(present) and present.map(lambda v: hasattr(v, "isoformat")).mean() >= 0.9:
                native = "datetime"  # dates of a workbook
                present = present.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
            texts = present.astype(str).str.strip()
            texts = texts[texts != ""]
            numbers = pd.to_numeric(texts, errors="coerce")
        numbers = numbers[np.isfinite(numbers.to_numpy(dtype="float64", na_value=np.nan))]
        lengths = texts.str.len()
        col = Col(name=name, rows=len(frame), texts=texts, numbers=numbers,
                  numeric_share=len(numbers) / len(texts) if len(texts) else 0.0,
                  mean_length=float(lengths.mean()) if len(texts) else 0.0,
                  spaced=float(texts.str.contains(r"\s", regex=True).mean()) if len(texts) else 0.0,
                  distinct=int(texts.nunique()), native=native)
        col.stamp = _stamp(col, series)
        cols[name] = col
    return cols


TIME_WORDS = ("time", "date", "ts", "timestamp", "datetime", "created", "updated", "at", "when", "submitted", "published",
              "occurred", "answered", "posted", "дата", "время")
ISO_RE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
DMY_RE = (r"^(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})"
          r"(?:(?P<t>[ T]+)(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?P<f>\.\d+)?)?\s*(?P<p>[AaPp][Mm])?)?$")


def _stamp(col: Col, series: pd.Series) -> Stamp | None:
    """The column as timestamps, when at least 90% of its values read as one format."""
    import pandas as pd

    if not col.filled:
        return None
    if col.native == "datetime":
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
        where = "stored as dates in the workbook, read as ISO 8601 text" if not pd.api.types.is_datetime64_any_dtype(series.dtype) \
            else "stored as timestamps in the file"
        return Stamp(None, 1.0, where, parsed)
    if col.numeric_share >= 0.95:
        return _numeric_stamp(col, series)
    head = col.texts.head(500)
    if head.str.match(ISO_RE).mean() >= 0.9:
        parsed = pd.to_datetime(col.texts, format="ISO8601", errors="coerce", utc=True)
        share = parsed.notna().mean()
        if share >= 0.9:
            return Stamp("iso8601", share, f"{share:.0%} of {col.filled:,} values parse as ISO 8601 (e.g. {col.texts.iloc[0]})",
                         parsed.reindex(series.index))
    parts = col.texts.str.extract(DMY_RE)
    if parts["a"].notna().mean() < 0.9:
        return None
    return _dated_stamp(col, parts.dropna(subset=["a"]), series)


def _dated_stamp(col: Col, parts: pd.DataFrame, series: pd.Series) -> Stamp | None:
    """A day/month/year format: which number is the day is told by values above 12."""
    import pandas as pd

    sep = parts["sep"].mode().iloc[0]
    a, b = parts["a"].astype(int), parts["b"].astype(int)
    undecided = False
    if parts["a"].str.len().max() == 4:
        fmt, why = f"%Y{sep}%m{sep}%d", "the year comes first"
    else:
        if not parts["c"].str.len().isin([2, 4]).all() or (a > 31).any() or (b > 31).any():
            return None
        year = "%Y" if parts["c"].str.len().mode().iloc[0] == 4 else "%y"
        day_first, month_first = int((a > 12).sum()), int((b > 12).sum())
        if day_first and month_first:
            return None
        if month_first:
            fmt, why = f"%m{sep}%d{sep}{year}", f"{month_first:,} values have a second number above 12 (a day)"
        else:
            fmt = f"%d{sep}%m{sep}{year}"
            why = f"{day_first:,} values have a first number above 12 (a day)" if day_first else "no number above 12 tells day from month"
            undecided = not day_first
    timed = parts["h"].notna()
    if timed.mean() >= 0.5:
        t = parts.loc[timed]
        clock = "%I" if t["p"].notna().mean() >= 0.5 else "%H"
        clock += ":%M" + (":%S" if t["s"].notna().mean() >= 0.5 else "") + (".%f" if t["f"].notna().mean() >= 0.5 else "")
        joiner = "T" if t["t"].str.strip().eq("T").mean() >= 0.5 else " "
        fmt += joiner + clock + (" %p" if clock.startswith("%I") else "")
    parsed = pd.to_datetime(col.texts, format=fmt, errors="coerce")
    share = parsed.notna().mean()
    if share < 0.9:
        return None
    parsed = parsed.dt.tz_localize("UTC", ambiguous="NaT", nonexistent="shift_forward").reindex(series.index)
    return Stamp(fmt, share, f"{share:.0%} of {col.filled:,} values parse as {fmt}; {why}", parsed, undecided)


def _numeric_stamp(col: Col, series: pd.Series) -> Stamp | None:
    """Seconds or milliseconds since 1970, or Excel serial days, told by their magnitude."""
    import pandas as pd

    nums = col.numbers
    if not len(nums):
        return None
    low, high = float(nums.min()), float(nums.max())
    hinted = _named(col.name, TIME_WORDS)
    if _is_id_name(col.name) and not hinted:
        return None
    kind = None
    if 1e9 <= low and high <= 2.2e9 and (hinted or high - low > 86_400):
        kind, unit, what = "epoch_seconds", "s", "seconds since 1970"
    elif 1e12 <= low and high <= 2.2e12 and (hinted or high - low > 86_400_000):
        kind, unit, what = "epoch_milliseconds", "ms", "milliseconds since 1970"
    elif 20_000 <= low and high <= 80_000:
        # Prices can fall in this range too; serial dates carry a time of day as a long fraction.
        decimals = col.texts.loc[nums.index].str.extract(r"\.(\d+)$")[0].str.len().fillna(0)
        if hinted or (decimals > 2).mean() >= 0.5:
            kind, unit, what = "excel", "D", "Excel serial days"
    if kind is None:
        return None
    if unit == "D":
        parsed = pd.to_datetime(nums, unit="D", origin="1899-12-30", utc=True)
    else:
        parsed = pd.to_datetime(nums, unit=unit, utc=True)
    share = len(nums) / col.filled
    span = f"{parsed.min():%Y-%m-%d} .. {parsed.max():%Y-%m-%d}"
    whole = "whole numbers" if col.integers else "numbers"
    return Stamp(kind, share, f"{share:.0%} of {col.filled:,} values are {whole} from {low:,.0f} to {high:,.0f}: {what}, {span}",
                 parsed.reindex(series.index))
