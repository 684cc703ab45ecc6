"""Wide exports to long rows: one row per melt rule (``melt`` of a source) whose cell is filled and
whose condition (``when``) holds, the condition comparing timestamps, numbers or text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError
from cjm_tasks.ingest.canonical import ID_COLUMN, SCHEMAS, UNIT, _file_columns_for, string_mapper

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.config import SourceConfig


def melt_table(name: str, source: SourceConfig, table, display: str):
    """Wide rows to long rows, one per melt rule whose cell is filled and whose condition holds."""
    import pandas as pd
    import pyarrow as pa

    melt = source.melt
    assert melt is not None
    frame = table.to_pandas(types_mapper=string_mapper())
    wide_only = set(melt.file_columns()) - {fc for fc, _, _ in _file_columns_for(source, {c: False for c in SCHEMAS[name]})}
    ids = [c for c in frame.columns if c not in wide_only]
    parts = []
    for order, rule in enumerate(melt.all_rules()):
        cell = frame[rule.column]
        keep = cell.notna() & (cell.astype("str").str.strip() != "")
        if rule.when is not None:
            try:
                keep &= _condition(frame, rule.when)
            except ValueError as exc:
                raise DataError(name, display, f"melt rule {order} ({rule.label}): {exc}") from None
        part = frame.loc[keep, ids].copy()
        part[melt.variable] = rule.label
        part[melt.value] = cell[keep].astype("str")
        part["_row"], part["_order"] = part.index, order
        parts.append(part)
    long = pd.concat(parts, ignore_index=True).sort_values(["_row", "_order"], kind="stable")
    id_col = ID_COLUMN[name]
    if id_col in long.columns:
        long[UNIT] = long[id_col].astype("str")
        # One wide row becomes several rows: suffix the id so each row keeps a unique id.
        long[id_col] = long[id_col].astype("str") + ":" + long[melt.variable].astype("str")
    else:
        long[UNIT] = display + "#" + long["_row"].astype("str")
    return pa.Table.from_pandas(long.drop(columns=["_row", "_order"]), preserve_index=False)


def _condition(frame: pd.DataFrame, when) -> pd.Series:
    """Row mask of a melt condition; compares as timestamps, numbers or text, whichever fits."""
    import pandas as pd

    left = frame[when.column]
    if when.op == "is_null":
        return left.isna()
    if when.op == "not_null":
        return left.notna()
    if when.op == "in":
        return left.isin([str(v) for v in when.value])
    right = frame[when.other] if when.other is not None else pd.Series(str(when.value), index=frame.index)
    if when.op in ("eq", "ne"):
        same = left.astype("str") == right.astype("str")
        return (same if when.op == "eq" else ~same) & left.notna()
    for parse in (lambda s: pd.to_datetime(s, format="ISO8601", errors="coerce", utc=True), lambda s: pd.to_numeric(s, errors="coerce")):
        a, b = parse(left), parse(right)
        if a.notna().sum() >= left.notna().sum() * 0.99 and b.notna().sum() >= right.notna().sum() * 0.99:
            left, right = a, b
            break
    if when.compare == "date":
        if not pd.api.types.is_datetime64_any_dtype(left.dtype):
            raise ValueError(f"melt condition on {when.column!r} compares dates, but its values are not timestamps")
        # A promised *day* is kept by a delivery at any time of that day.
        left, right = left.dt.floor("D"), right.dt.floor("D")
    result = {"lt": left < right, "le": left <= right, "gt": left > right, "ge": left >= right}[when.op]
    return result.fillna(False).astype(bool)
