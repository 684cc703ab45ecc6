"""Read surveys, reviews, sales and customers into canonical tables.

A source is configured by location (path, glob or ``s3://``; ``{period}`` is replaced by the
period), format (CSV, Parquet, JSON Lines), a column mapping from the file's names to the
canonical names, value mappings, constants, an optional melt of wide exports, and the timestamp
column that cuts the quarter. Only the needed columns are parsed. Parsing is columnar (pyarrow);
no Python loop runs per row.

Problems with a file (missing column, undecodable bytes, empty file, an unparseable number or
timestamp) are reported with the file, the data row and the column; conversion problems are kept
on the result for the validation gate rather than raised, so that one report lists all of them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cjm_tasks.errors import DataError
from cjm_tasks.periods import Period
from cjm_tasks.storage import expand_location

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.config import CjmConfig, SourceConfig

log = logging.getLogger(__name__)

Kind = Literal["id", "str", "float", "ts", "any"]


@dataclass(frozen=True)
class Column:
    kind: Kind
    required: bool = False


# The canonical columns of each source (ARCHITECTURE.md, "Inputs").
SCHEMAS: dict[str, dict[str, Column]] = {
    "surveys": {
        "response_id": Column("id", True),
        "customer_id": Column("id"),
        "answered_at": Column("ts", True),
        "question": Column("str"),
        "stage": Column("str", True),
        "metric": Column("str", True),
        "score": Column("float", True),
        "comment": Column("str"),
        "channel": Column("str"),
    },
    "reviews": {
        "review_id": Column("id", True),
        "customer_id": Column("id"),
        "published_at": Column("ts", True),
        "rating": Column("float", True),
        "text": Column("str", True),
        "source": Column("str"),
        "language": Column("str"),
        "stage": Column("str"),
    },
    "sales": {
        "event_id": Column("id", True),
        "customer_id": Column("id", True),
        "occurred_at": Column("ts", True),
        "event_type": Column("str", True),
        "stage": Column("str"),
        "channel": Column("str", True),
        "amount": Column("float"),
        "order_id": Column("id"),
    },
    "customers": {"customer_id": Column("id", True)},
}
ID_COLUMN = {"surveys": "response_id", "reviews": "review_id", "sales": "event_id", "customers": "customer_id"}
TIMESTAMP_COLUMN = {"surveys": "answered_at", "reviews": "published_at", "sales": "occurred_at"}
# Columns the reader derives from others through stages.yaml when the file does not carry them.
DERIVED = {"surveys": {"stage": "question", "metric": "question"}, "sales": {"stage": "event_type"}}


@dataclass(frozen=True)
class InputFile:
    """One file read (or one SQL query run): where, how many rows, and a hash of its bytes
    (of the rows read, for a query)."""

    location: str
    rows: int
    sha256: str
    query: str | None = None


@dataclass
class ConversionIssue:
    """Values of one column that could not be converted to the canonical type."""

    column: str
    expected: str
    count: int
    samples: list[str]
    rows: list[str]


@dataclass
class SourceData:
    """One source read for one period: the canonical table and where it came from.

    ``frame`` has a positional index over the concatenated files (``locate`` maps it back to a
    file and row). ``issues`` lists values that could not be converted.
    """

    name: str
    frame: pd.DataFrame
    files: list[InputFile]
    rows_read: int
    rows_outside_period: int = 0
    issues: list[ConversionIssue] = field(default_factory=list)
    # A melted or long export: how many of its own rows (responses, orders) the period holds;
    # ``min_rows`` counts these rather than the rows they became.
    records: int | None = None
    pending: list = field(default_factory=list, repr=False)

    def locate(self, index: int) -> str:
        """``file, data row N`` for a positional row index of the concatenated input."""
        start = 0
        for f in self.files:
            if index < start + f.rows:
                return f"{f.location}, data row {index - start + 1}"
            start += f.rows
        return f"row {index + 1}"

    @property
    def sha256(self) -> str:
        """One hash over every input file (in name order)."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.sha256.encode())
        return h.hexdigest()


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
        frames.append(_finish_table(name, source, input_file.location, table, wanted).to_pandas(types_mapper=_string_mapper()))
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
            frames.append(table.to_pandas(types_mapper=_string_mapper()))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    data = SourceData(name=name, frame=frame, files=inputs, rows_read=len(frame))
    data.frame = _to_canonical(data, source, config)
    inside = None
    if period is not None and name in TIMESTAMP_COLUMN and source.period_rows == "filter":
        ts = data.frame[TIMESTAMP_COLUMN[name]]
        tz = source.timezone or config.project.timezone
        inside = ((ts >= period.start(tz)) & (ts < period.end(tz))) | ts.isna()
        data.rows_outside_period = int((~inside).sum())
        data.frame = data.frame[inside]
    # Values that could not be converted are reported for the rows the gate checks: the period's.
    for column, expected, raw_values, bad in data.pending:
        _record(data, column, expected, raw_values, bad if inside is None else bad & inside.to_numpy())
    data.pending = []
    if UNIT in data.frame.columns:
        data.records = int(data.frame[UNIT].nunique())
        data.frame = data.frame.drop(columns=[UNIT])
    log.info("read %s: %d rows from %d file(s), %d outside %s", name, data.rows_read, len(inputs), data.rows_outside_period, period)
    return data


# A hidden column that keeps the export's own row (a response, an order) through a melt or a
# long layout, to count them; dropped before the table leaves the reader.
UNIT = "__unit"


def _string_mapper():
    import pandas as pd
    import pyarrow as pa

    def mapper(dtype: pa.DataType):
        if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            return pd.StringDtype(storage="pyarrow", na_value=float("nan"))
        return None

    return mapper


def _wanted_columns(name: str, source: SourceConfig, config: CjmConfig) -> dict[str, bool]:
    """Canonical column -> required, for the columns this source should read from its files."""
    schema = SCHEMAS[name]
    if name == "customers":
        wanted = {"customer_id": True}
        for attr in source.attributes if source.attributes is not None else persona_attributes(config):
            wanted[attr] = False
        return wanted
    wanted = {c: spec.required for c, spec in schema.items() if c not in source.constants}
    if source.row_id == "hash":
        wanted.pop(ID_COLUMN[name], None)
    for attr in source.attributes or []:
        wanted.setdefault(attr, True)
    for derived, origin in DERIVED.get(name, {}).items():
        if derived in wanted:
            wanted[derived] = False
            if origin not in source.constants:
                wanted[origin] = wanted.get(origin, False)
    return wanted


DERIVED_FEATURES = ("order_count", "total_order_value", "avg_order_value", "first_seen", "last_seen", "main_channel", "event_count")


def persona_attributes(config: CjmConfig) -> list[str]:
    """Customer attributes the persona rules use (fields that are not derived features)."""
    from cjm_tasks.config import AllRule, AnyRule, Condition, NotRule

    fields: list[str] = []

    def walk(rule) -> None:
        if isinstance(rule, Condition):
            if rule.field not in DERIVED_FEATURES and rule.field not in fields:
                fields.append(rule.field)
        elif isinstance(rule, AllRule):
            for r in rule.all:
                walk(r)
        elif isinstance(rule, AnyRule):
            for r in rule.any:
                walk(r)
        elif isinstance(rule, NotRule):
            walk(rule.not_)

    for persona in config.personas.personas:
        walk(persona.rule)
    return fields


def _file_columns_for(source: SourceConfig, wanted: dict[str, bool]) -> list[tuple[str, str, bool]]:
    """``(file column, canonical column, required)`` for the wanted canonical columns.

    One file column may feed several canonical columns (``columns: {id: [customer_id, order_id]}``).
    """
    to_file: dict[str, str] = {}
    for file_col, canonical in source.columns.items():
        for c in [canonical] if isinstance(canonical, str) else canonical:
            to_file[c] = file_col
    melted = {source.melt.variable, source.melt.value} if source.melt else set()
    return [(to_file.get(c, c), c, required) for c, required in wanted.items() if c not in melted]


def _parse(name: str, source: SourceConfig, display: str, raw: bytes, wanted: dict[str, bool]):
    """Parse one file into an Arrow table holding the wanted columns, renamed to canonical names."""
    import pyarrow as pa

    if not raw.strip():
        raise DataError(name, display, "file is empty")
    mapping = _file_columns_for(source, wanted)
    melt_cols = source.melt.file_columns() if source.melt else []
    header = _header(name, source, display, raw)
    missing = [f"{fc!r}" + (f" (canonical {c!r})" if c != fc else "") for fc, c, req in mapping if req and fc not in header]
    missing += [repr(c) for c in melt_cols if c not in header]
    if missing:
        hint = ""
        if source.format == "csv" and len(header) == 1:
            other = next((d for d in ";,\t|" if d != source.csv.delimiter and d in header[0]), None)
            if other:
                hint = f"; the header has a single column {header[0][:80]!r}: is the delimiter {other!r} rather than {source.csv.delimiter!r}? (set csv.delimiter)"
        raise DataError(name, display, f"missing required column(s) {', '.join(dict.fromkeys(missing))}; found {', '.join(map(repr, header[:20]))}{hint}")
    read_cols = list(dict.fromkeys([fc for fc, _, _ in mapping if fc in header] + melt_cols))
    if source.row_id == "hash":
        read_cols = list(dict.fromkeys(header))  # the id is a hash of the whole row
    table = _read_table(name, source, display, raw, read_cols)
    return _finish_table(name, source, display, table, wanted)


def _finish_table(name: str, source: SourceConfig, display: str, table, wanted: dict[str, bool]):
    """Rename the file's columns to canonical names, add a hashed id where asked, melt."""
    import pyarrow as pa

    mapping = _file_columns_for(source, wanted)
    melt_cols = source.melt.file_columns() if source.melt else []
    if table.num_rows == 0:
        raise DataError(name, display, "file has a header but no data rows")
    missing = [f"{fc!r}" + (f" (canonical {c!r})" if c != fc else "") for fc, c, req in mapping if req and fc not in table.column_names]
    missing += [repr(c) for c in melt_cols if c not in table.column_names]
    if missing:
        raise DataError(name, display, f"missing required column(s) {', '.join(dict.fromkeys(missing))}; found {', '.join(map(repr, table.column_names[:20]))}")
    row_hash = _row_hash(table) if source.row_id == "hash" else None
    present = [(fc, c) for fc, c, _ in mapping if fc in table.column_names]
    mapped = {fc for fc, _ in present}
    columns = [table[fc] for fc, _ in present] + [table[c] for c in melt_cols if c not in mapped]
    names = [c for _, c in present] + [c for c in melt_cols if c not in mapped]
    if row_hash is not None:
        columns.append(row_hash)
        names.append(ID_COLUMN[name])
    table = pa.table(columns, names=names)
    return table if not source.melt else _melt(name, source, table, display)


def _row_hash(table):
    """A stable id per row: 16 hex digits of a hash over every value of the row (identical rows,
    duplicates of the export, get the same id and fail the gate's unique check)."""
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas(types_mapper=_string_mapper()).astype("str")
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key="cjm-row-id-00001").to_numpy()
    return pa.array([f"{h:016x}" for h in hashed.tolist()], type=pa.string())


def _header(name: str, source: SourceConfig, display: str, raw: bytes) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if source.format == "csv":
        first = raw.split(b"\n", 1)[0].rstrip(b"\r")
        try:
            text = first.decode(source.csv.encoding)
        except UnicodeDecodeError as exc:
            raise DataError(name, f"{display}, header", f"cannot be decoded as {source.csv.encoding} at byte {exc.start}") from None
        text = text.lstrip("\ufeff")
        return next(csv.reader([text], delimiter=source.csv.delimiter, quotechar=source.csv.quotechar), [])
    if source.format == "parquet":
        try:
            return pq.read_schema(pa.BufferReader(raw)).names
        except pa.ArrowException as exc:
            raise DataError(name, display, f"not a readable Parquet file ({exc})") from None
    if source.format == "xlsx":
        return [str(c) for c in _read_xlsx(name, source, display, raw, header_only=True).columns]
    return _jsonl_keys(name, display, raw)


def _read_xlsx(name: str, source: SourceConfig, display: str, raw: bytes, header_only: bool = False, columns: list[str] | None = None):
    """One sheet of an Excel workbook (openpyxl, read-only) as a DataFrame of text and dates."""
    import pandas as pd

    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a dependency of the package
        raise DataError(name, display, "reading xlsx needs openpyxl (pip install openpyxl)") from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise DataError(name, display, f"not a readable xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheet_names = book.sheetnames
        wanted = source.sheet if source.sheet is not None else 0
        if isinstance(wanted, int):
            if not 0 <= wanted < len(sheet_names):
                raise DataError(name, display, f"sheet index {wanted} does not exist (the workbook has {len(sheet_names)}: {', '.join(sheet_names)})")
            sheet = book[sheet_names[wanted]]
        elif wanted in sheet_names:
            sheet = book[wanted]
        else:
            raise DataError(name, display, f"no sheet named {wanted!r} (sheets: {', '.join(sheet_names)})")
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise DataError(name, display, "the sheet is empty")
        names = ["" if h is None else str(h).strip() for h in header]
        while names and names[-1] == "":
            names.pop()
        if header_only:
            return pd.DataFrame(columns=names)
        keep = [i for i, n in enumerate(names) if n and (columns is None or n in columns)]
        data = [[row[i] if i < len(row) else None for i in keep] for row in rows if row and any(v is not None for v in row)]
    finally:
        book.close()
    frame = pd.DataFrame(data, columns=[names[i] for i in keep], dtype="object")
    for col in frame.columns:
        values = frame[col]
        if values.map(lambda v: hasattr(v, "isoformat")).any():
            # Cells formatted as dates: openpyxl gives datetimes; keep them as ISO text for the reader.
            frame[col] = values.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    return frame.astype("str").where(frame.notna(), None)


def _jsonl_keys(name: str, display: str, raw: bytes) -> list[str]:
    import json

    keys: list[str] = []
    # The first lines are enough to know the field names; the full parse reads every line.
    for n, line in enumerate(raw.splitlines()[:200], start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(name, f"{display}, line {n}", f"not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise DataError(name, f"{display}, line {n}", "expected a JSON object per line")
        keys.extend(k for k in obj if k not in keys)
    return keys


def _read_table(name: str, source: SourceConfig, display: str, raw: bytes, columns: list[str]):
    import pyarrow as pa

    try:
        if source.format == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(
                pa.BufferReader(raw),
                read_options=pcsv.ReadOptions(encoding=source.csv.encoding),
                parse_options=pcsv.ParseOptions(delimiter=source.csv.delimiter, quote_char=source.csv.quotechar, newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(
                    include_columns=columns,
                    column_types={c: pa.string() for c in columns},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        if source.format == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(pa.BufferReader(raw), columns=columns)
        if source.format == "xlsx":
            return pa.Table.from_pandas(_read_xlsx(name, source, display, raw, columns=columns), preserve_index=False)
        return _read_jsonl(raw, columns)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(name, *_explain_parse_error(source, display, raw, exc)) from None


def _read_jsonl(raw: bytes, columns: list[str]):
    import pyarrow as pa
    import pyarrow.json as pjson

    try:
        table = pjson.read_json(pa.BufferReader(raw))
    except pa.ArrowInvalid:
        # Mixed types in one field (a number here, a string there): read every value as text
        # and let the canonical conversion report the values that are not what they should be.
        import pandas as pd

        frame = pd.read_json(io.BytesIO(raw), lines=True, dtype=False)
        frame = frame[[c for c in columns if c in frame.columns]]
        return pa.Table.from_pandas(frame.astype(str).where(frame.notna(), None), preserve_index=False)
    return table.select([c for c in columns if c in table.column_names])


def _explain_parse_error(source: SourceConfig, display: str, raw: bytes, exc: Exception) -> tuple[str, str]:
    """(location, message) for a file that could not be parsed: find the bad row when we can."""
    encoding = source.csv.encoding if source.format == "csv" else "utf-8"
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as bad:
        line = raw.count(b"\n", 0, bad.start) + 1
        row = f"data row {line - 1}" if source.format == "csv" else f"line {line}"
        snippet = raw[max(0, bad.start - 10): bad.start + 4]
        return f"{display}, {row}", f"bytes cannot be decoded as {encoding} (byte {bad.start}, near {snippet!r}); set csv.encoding if the file is not {encoding}"
    if source.format == "jsonl":
        import json

        for n, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as err:
                    return f"{display}, line {n}", f"not valid JSON ({err})"
    match = re.search(r"row (\d+)", str(exc))
    where = f"{display}, data row {match.group(1)}" if match else display
    return where, f"cannot be parsed as {source.format}: {exc}"


def _melt(name: str, source: SourceConfig, table, display: str):
    """Wide rows to long rows, one per melt rule whose cell is filled and whose condition holds."""
    import pandas as pd
    import pyarrow as pa

    melt = source.melt
    assert melt is not None
    frame = table.to_pandas(types_mapper=_string_mapper())
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


def _to_canonical(data: SourceData, source: SourceConfig, config: CjmConfig) -> pd.DataFrame:
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
    import pandas as pd

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
        # Integer ids read as floats (because of missing values) must not become "12.0".
        as_int = series.astype("Int64")
        return as_int.astype("str").where(series.notna())
    return series.astype("str").where(series.notna())


def _record(data: SourceData, column: str, expected: str, raw: pd.Series, bad) -> None:
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


def read_sources(config: CjmConfig, period: Period | None, names: list[str] | None = None) -> dict[str, SourceData]:
    """Read every configured source (or ``names``) for ``period``."""
    return {name: read_source(name, config, period) for name in (names or list(config.sources))}
