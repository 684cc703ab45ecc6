"""Read surveys, reviews, sales and customers into canonical tables.

A source is configured by location (path, glob or ``s3://``; ``{period}`` is replaced by the
period), format (CSV, Parquet, JSON Lines), a column mapping from the file's names to the
canonical names, value mappings, constants, an optional melt of wide exports, and the timestamp
column that cuts the quarter. Only the needed columns are parsed. Parsing is columnar (pyarrow);
no Python loop runs per row.

Problems with a file (missing column, undecodable bytes, empty file, an unparseable number or
timestamp) are reported with the file, the data row and the column; conversion problems are kept
on the result for the validation gate rather than raised, so that one report lists all of them.

This module reads a source (files or a query) and cuts the period; the file formats are in
:mod:`~cjm_tasks.ingest.readers`, the melt of wide exports in :mod:`~cjm_tasks.ingest.melt`, the
conversion to canonical types in :mod:`~cjm_tasks.ingest.convert` and the canonical columns in
:mod:`~cjm_tasks.ingest.canonical`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError
from cjm_tasks.ingest.canonical import DERIVED, ID_COLUMN, TIMESTAMP_COLUMN, UNIT, InputFile, SourceData, _file_columns_for, _wanted_columns, string_mapper
from cjm_tasks.ingest.convert import record_issue, to_canonical
from cjm_tasks.ingest.melt import melt_table
from cjm_tasks.ingest.readers import _header, read_table
from cjm_tasks.periods import Period
from cjm_tasks.storage import expand_location

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig, SourceConfig

log = logging.getLogger(__name__)


def location_for(source: SourceConfig, period: Period | None) -> str:
    return source.location.replace("{period}", str(period)) if period else source.location


def read_source(name: str, config: CjmConfig, period: Period | None, only: set[str] | None = None) -> SourceData:
    """Read source ``name`` of ``config`` for ``period`` into its canonical table.

    Rows outside [period start, period end) are dropped when the source's ``period_rows`` is
    ``filter`` and kept for the gate to reject when it is ``require``.
    Raises :class:`DataError` when no file matches, a file is empty or undecodable, or a
    required column is missing.
    """
    import pandas as pd

    source = config.sources[name]
    wanted = _wanted_columns(name, source, config)
    if only is not None:
        # A dry run reads the columns it reports on (never the texts), with the timestamp for the cut.
        keep = only | {TIMESTAMP_COLUMN.get(name, ""), ID_COLUMN[name]} | set(source.attributes or [])
        keep |= {origin for derived, origin in DERIVED.get(name, {}).items() if derived in keep}
        wanted = {c: req for c, req in wanted.items() if c in keep}
    frames, inputs = [], []
    if source.format == "sql":
        from cjm_tasks.ingest.sql import read_query

        table, input_file = read_query(name, source, period, config.project.timezone, _file_columns_for(source, wanted))
        require_columns(name, source, input_file.location, table.column_names, wanted)
        frames.append(_finish_table(name, source, input_file.location, table, wanted).to_pandas(types_mapper=string_mapper()))
        inputs.append(input_file)
    else:
        location = location_for(source, period)
        files = expand_location(location, config.s3)
        if not files:
            raise DataError(name, location, "no file matches this location")
        for display, storage, key in files:
            raw = storage.read_bytes(key)
            table = _parse(name, source, display, raw, wanted)
            inputs.append(InputFile(display, table.num_rows, hashlib.sha256(raw).hexdigest()))
            frames.append(table.to_pandas(types_mapper=string_mapper()))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    data = SourceData(name=name, frame=frame, files=inputs, rows_read=len(frame))
    data.frame = to_canonical(data, source, config)
    inside = None
    if period is not None and name in TIMESTAMP_COLUMN and source.period_rows == "filter":
        ts = data.frame[TIMESTAMP_COLUMN[name]]
        tz = source.timezone or config.project.timezone
        inside = ((ts >= period.start(tz)) & (ts < period.end(tz))) | ts.isna()
        data.rows_outside_period = int((~inside).sum())
        data.frame = data.frame[inside]
    # Values that could not be converted are reported for the rows the gate checks: the period's.
    for column, expected, raw_values, bad in data.pending:
        record_issue(data, column, expected, raw_values, bad if inside is None else bad & inside.to_numpy())
    data.pending = []
    if UNIT in data.frame.columns:
        data.records = int(data.frame[UNIT].nunique())
        data.frame = data.frame.drop(columns=[UNIT])
    log.info("read %s: %d rows from %d file(s), %d outside %s", name, data.rows_read, len(inputs), data.rows_outside_period, period)
    return data


def _parse(name: str, source: SourceConfig, display: str, raw: bytes, wanted: dict[str, bool]):
    """Parse one file into an Arrow table holding the wanted columns, renamed to canonical names."""
    if not raw.strip():
        raise DataError(name, display, "file is empty")
    mapping = _file_columns_for(source, wanted)
    melt_cols = source.melt.file_columns() if source.melt else []
    header = _header(name, source, display, raw)
    require_columns(name, source, display, header, wanted)
    read_cols = list(dict.fromkeys([fc for fc, _, _ in mapping if fc in header] + melt_cols))
    if source.row_id == "hash":
        read_cols = list(dict.fromkeys(header))  # the id is a hash of the whole row
    table = read_table(name, source, display, raw, read_cols)
    return _finish_table(name, source, display, table, wanted)


def require_columns(name: str, source: SourceConfig, display: str, columns: list[str], wanted: dict[str, bool]) -> None:
    """Raise :class:`DataError` naming every required and melted column ``columns`` (a file's
    header, a query's result) lacks, with the delimiter to try when a CSV header did not split."""
    mapping = _file_columns_for(source, wanted)
    melt_cols = source.melt.file_columns() if source.melt else []
    missing = [f"{fc!r}" + (f" (canonical {c!r})" if c != fc else "") for fc, c, req in mapping if req and fc not in columns]
    missing += [repr(c) for c in melt_cols if c not in columns]
    if not missing:
        return
    hint = ""
    if source.format == "csv" and len(columns) == 1:
        other = next((d for d in ";,\t|" if d != source.csv.delimiter and d in columns[0]), None)
        if other:
            hint = f"; the header has a single column {columns[0][:80]!r}: is the delimiter {other!r} rather than {source.csv.delimiter!r}? (set csv.delimiter)"
    raise DataError(name, display, f"missing required column(s) {', '.join(dict.fromkeys(missing))}; found {', '.join(map(repr, columns[:20]))}{hint}")


def _finish_table(name: str, source: SourceConfig, display: str, table, wanted: dict[str, bool]):
    """Rename the file's columns to canonical names, add a hashed id where asked, melt."""
    import pyarrow as pa

    mapping = _file_columns_for(source, wanted)
    melt_cols = source.melt.file_columns() if source.melt else []
    if table.num_rows == 0:
        raise DataError(name, display, "file has a header but no data rows")
    row_hash = _row_hash(table) if source.row_id == "hash" else None
    present = [(fc, c) for fc, c, _ in mapping if fc in table.column_names]
    mapped = {fc for fc, _ in present}
    columns = [table[fc] for fc, _ in present] + [table[c] for c in melt_cols if c not in mapped]
    names = [c for _, c in present] + [c for c in melt_cols if c not in mapped]
    if row_hash is not None:
        columns.append(row_hash)
        names.append(ID_COLUMN[name])
    table = pa.table(columns, names=names)
    return table if not source.melt else melt_table(name, source, table, display)


def _row_hash(table):
    """A stable id per row: 16 hex digits of a hash over every value of the row (identical rows,
    duplicates of the export, get the same id and fail the gate's unique check)."""
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas(types_mapper=string_mapper()).astype("str")
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key="cjm-row-id-00001").to_numpy()
    return pa.array([f"{h:016x}" for h in hashed.tolist()], type=pa.string())


def read_sources(config: CjmConfig, period: Period | None, names: list[str] | None = None) -> dict[str, SourceData]:
    """Read every configured source (or ``names``) for ``period``."""
    return {name: read_source(name, config, period) for name in (names or list(config.sources))}
