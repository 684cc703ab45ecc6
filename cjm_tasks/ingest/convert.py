"""Canonical conversion of a source's table: value mappings and constants, stage and metric
derived from the stages configuration, the survey layout (text items, long exports), types
(text, numbers, timestamps in the configured format and time zone) and ratings read onto 1-5.
Values that do not convert are kept as :class:`ConversionIssue` for the validation gate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError
from cjm_tasks.ingest.canonical import SCHEMAS, UNIT, Column, ConversionIssue

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.config import CjmConfig, SourceConfig
    from cjm_tasks.ingest.canonical import SourceData

log = logging.getLogger(__name__)


def to_canonical(data: SourceData, source: SourceConfig, config: CjmConfig) -> pd.DataFrame:
    """Apply value mappings and constants, derive stage/metric, convert types, rescale ratings."""
    import pandas as pd

    frame = data.frame
    for column, value in source.constants.items():
        frame[column] = value
    for column, mapping in source.values.items():
        if column in frame.columns:
            frame[column] = frame[column].replace(mapping)
    if data.name == "surveys":
        frame = _survey_layout(frame, source)
    if data.name == "surveys" and "question" in frame.columns:
        lookup = config.question_stage_metric
        if "stage" not in frame.columns:
            frame["stage"] = frame["question"].map({q: s for q, (s, _) in lookup.items()})
        if "metric" not in frame.columns:
            frame["metric"] = frame["question"].map({q: m for q, (_, m) in lookup.items()})
    if data.name == "sales" and "event_type" in frame.columns and "stage" not in frame.columns:
        frame["stage"] = frame["event_type"].map(config.event_stage)
    schema = SCHEMAS[data.name]
    tz = source.timezone or config.project.timezone
    for column in frame.columns:
        kind = schema.get(column, Column("any")).kind
        if kind == "id" or kind == "str":
            frame[column] = _as_text(frame[column])
        elif kind == "float":
            frame[column] = _as_number(data, column, frame[column])
        elif kind == "ts":
            frame[column] = _as_timestamp(data, column, frame[column], tz, source.timestamp_format)
    if data.name == "reviews" and "rating" in frame.columns and (source.scales or source.scale_by):
        frame = _rescale_ratings(frame, source)
    return frame.reset_index(drop=True) if not isinstance(frame.index, pd.RangeIndex) else frame


def _survey_layout(frame: pd.DataFrame, source: SourceConfig) -> pd.DataFrame:
    """Text items become their response's comment; a long export gets ids unique per answer."""
    long = source.layout == "long" and "question" in frame.columns
    if UNIT not in frame.columns and long and "response_id" in frame.columns:
        frame[UNIT] = frame["response_id"].astype("str")
    key = UNIT if UNIT in frame.columns else "response_id"
    if source.text_questions and "question" in frame.columns and "score" in frame.columns and key in frame.columns:
        is_text = frame["question"].isin(source.text_questions)
        texts = frame.loc[is_text & frame["score"].notna(), [key, "score"]]
        texts = texts[texts["score"].astype("str").str.strip() != ""]
        joined = texts.groupby(key, sort=False)["score"].agg(lambda v: "\n".join(map(str, v)))
        frame = frame.loc[~is_text].copy()
        found = frame[key].map(joined)
        if "comment" in frame.columns:
            both = frame["comment"].notna() & found.notna()
            frame["comment"] = frame["comment"].where(~both, frame["comment"].astype("str") + "\n" + found.astype("str")).fillna(found)
        else:
            frame["comment"] = found
        orphans = len(joined) - int(joined.index.isin(frame[key]).sum())
        if orphans:
            log.warning("surveys: %d response(s) have text items but no scored answer; their text is not read", orphans)
    if long and "response_id" in frame.columns:
        # One row per answer: the answer is identified by response and question.
        frame["response_id"] = frame["response_id"].astype("str") + ":" + frame["question"].astype("str")
    return frame


def _rescale_ratings(frame: pd.DataFrame, source: SourceConfig) -> pd.DataFrame:
    """Keep the rating as given (``rating_raw``) with its scale, and read it onto 1-5 for the maps."""
    import numpy as np
    import pandas as pd

    low = pd.Series(source.rating_scale[0], index=frame.index, dtype="float64")
    high = pd.Series(source.rating_scale[1], index=frame.index, dtype="float64")
    if source.scale_by is not None:
        column = source.scale_by.column
        if column not in frame.columns:
            raise DataError("reviews", source.where, f"scale_by.column {column!r} is not a column of the reviews (map it under columns or attributes)")
        names = frame[column].astype("str")
        for value, (lo, hi) in source.scale_by.scales.items():
            low = low.mask(names == value, lo)
            high = high.mask(names == value, hi)
    frame["rating_raw"], frame["rating_low"], frame["rating_high"] = frame["rating"], low, high
    frame["rating"] = np.clip(1 + 4 * (frame["rating"] - low) / (high - low), 1, 5).where(frame["rating"].notna())
    return frame


def _as_text(series: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        return series
    if pd.api.types.is_float_dtype(series.dtype):
        import numpy as np

        values = series.dropna().to_numpy(dtype="float64")
        if np.isfinite(values).all() and (values == np.round(values)).all() and (np.abs(values) < 2**63).all():
            # Integer ids read as floats (because of missing values) must not become "12.0".
            return series.astype("Int64").astype("str").where(series.notna())
        # Fractions (an amount column mapped as an id, say) stay as they are written.
        return series.astype("str").where(series.notna())
    return series.astype("str").where(series.notna())


def record_issue(data: SourceData, column: str, expected: str, raw: pd.Series, bad) -> None:
    import numpy as np

    bad = np.asarray(bad, dtype=bool)
    count = int(bad.sum())
    if not count:
        return
    positions = list(raw.index[bad][:5])
    data.issues.append(
        ConversionIssue(
            column=column,
            expected=expected,
            count=count,
            samples=[clip(v) for v in raw[bad].head(5)],
            rows=[data.locate(int(p)) for p in positions],
        )
    )


def clip(value: object, limit: int = 80) -> str:
    """A value as short readable text for a message (a review pasted into an id column is long)."""
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text)} chars)"


def _as_number(data: SourceData, column: str, series: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64")
    text = series.astype("str").str.strip().where(series.notna())
    numbers = pd.to_numeric(text, errors="coerce")
    data.pending.append((column, "a number", series, (numbers.isna() & text.notna() & (text != "")).to_numpy()))
    return numbers.astype("float64")


TIMESTAMP_EXAMPLES = {"iso8601": "ISO 8601, e.g. 2025-07-01T12:00:00Z", "epoch_seconds": "seconds since 1970-01-01, e.g. 1751371200",
                      "epoch_milliseconds": "milliseconds since 1970-01-01, e.g. 1751371200000",
                      "excel": "an Excel serial date, e.g. 45839.5"}


def parse_timestamps(text: pd.Series, fmt: str | None) -> pd.Series:
    """Text (or numbers) to timestamps in ``fmt`` (see SourceConfig.timestamp_format); NaT where
    a value does not parse."""
    import pandas as pd

    fmt = fmt or "iso8601"
    if fmt in ("epoch_seconds", "epoch_milliseconds", "excel"):
        numbers = pd.to_numeric(text, errors="coerce")
        if fmt == "excel":
            # Excel counts days from 1899-12-30 (its 1900 leap-year bug included).
            return pd.to_datetime(numbers, unit="D", origin="1899-12-30", errors="coerce").dt.round("s")
        return pd.to_datetime(numbers, unit="s" if fmt == "epoch_seconds" else "ms", errors="coerce", utc=True)
    pandas_format = "ISO8601" if fmt == "iso8601" else fmt
    try:
        return pd.to_datetime(text, format=pandas_format, errors="coerce")
    except ValueError:
        # Some values carry an offset and some do not: read all as UTC rather than guess.
        return pd.to_datetime(text, format=pandas_format, errors="coerce", utc=True)


def _as_timestamp(data: SourceData, column: str, series: pd.Series, tz: str, fmt: str | None) -> pd.Series:
    if _is_datetime(series):
        parsed = series
    else:
        text = series.astype("str").str.strip().where(series.notna())
        parsed = parse_timestamps(text, fmt)
        data.pending.append((column, f"a timestamp ({TIMESTAMP_EXAMPLES.get(fmt or 'iso8601', fmt)}; set timestamp_format)", series,
                             (parsed.isna() & text.notna() & (text != "")).to_numpy()))
    if getattr(parsed.dt, "tz", None) is None:
        localized = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        # A local time inside a daylight-saving fall-back hour happened twice: say so, do not guess.
        data.pending.append((column, f"an unambiguous local time in {tz} (this one falls in a daylight-saving change)",
                             series, (localized.isna() & parsed.notna()).to_numpy()))
        parsed = localized
    return parsed.dt.tz_convert("UTC")


def _is_datetime(series: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_datetime64_any_dtype(series.dtype)
