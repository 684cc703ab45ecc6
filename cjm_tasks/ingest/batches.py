"""One source read batch by batch: every batch converted to canonical rows by the same code,
whether the source is streamed to Parquet or read into memory (the column mapping, the hashed row
id, the melt, then :func:`~cjm_tasks.ingest.arrow_convert.to_canonical_arrow` or
:func:`~cjm_tasks.ingest.convert.to_canonical`, then the period cut), with one Arrow schema for
every batch, and what the batches report merged: rows per file, conversion issues, records.

Each canonical row carries ``__row`` (:data:`~cjm_tasks.ingest.canonical.ROW_COLUMN`), its
position in the source's input rows (after a melt, before the period cut), which
:meth:`SourceData.locate` turns into a file and row.

A survey's text items are joined to the answers of their response, so a batch ends between
responses (a long export should list a response's rows together: a warning says when not). A few
conversions still look at a whole batch and can differ with its size: a JSON Lines piece with
mixed types in a field is read as text (``readers._read_jsonl``), a melt condition picks how to
compare from the batch's values (``melt._condition``), and text timestamps that mix values with
and without an offset are all read as UTC (``convert.parse_timestamps``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError
from cjm_tasks.ingest.arrow_convert import is_text_dictionary, plain_text, text_dictionary, to_canonical_arrow
from cjm_tasks.ingest.canonical import (ID_COLUMN, ROW_COLUMN, SCHEMAS, TIMESTAMP_COLUMN, UNIT, Column, ConversionIssue, InputFile, SourceData,
                                        _file_columns_for, string_mapper)
from cjm_tasks.ingest.convert import record_issue, to_canonical
from cjm_tasks.ingest.melt import melt_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from cjm_tasks.config import CjmConfig, SourceConfig
    from cjm_tasks.periods import Period

log = logging.getLogger(__name__)

# Numbers the conversion adds that no source schema lists (convert._rescale_ratings).
NUMBER_EXTRAS = ("rating_raw", "rating_low", "rating_high")
# An issue keeps this many sample values and rows (as record_issue does).
_SAMPLES = 5


class SourceReading:
    """Source ``name`` being read for ``period``: :meth:`file_tables` converts each file's
    batches, :meth:`result` describes what was read.

    ``present`` lists the canonical columns some file of the source has: a file without one of
    them gets it empty, so that every batch has the same columns.
    """

    def __init__(self, name: str, config: CjmConfig, period: Period | None, wanted: dict[str, bool], present: list[str]):
        self.name, self.config, self.period, self.wanted, self.present = name, config, period, wanted, present
        self.source: SourceConfig = config.sources[name]
        self.files: list[InputFile] = []
        self.rows_read = self.rows_outside = self.rows_kept = 0
        self.schema: pa.Schema | None = None
        self._converted = 0  # input rows converted so far (the next batch's first __row)
        self._types: dict[str, pa.DataType] = {}
        self._issues: dict[tuple[str, str], ConversionIssue] = {}
        self._order: list[tuple[str, str]] = []
        self._file_rows = 0
        self._units: _Distinct | None = None  # a melted or long source's export rows
        self._responses = _Distinct() if self._joins_texts() else None
        self._warned = False

    def _joins_texts(self) -> bool:
        # A survey's text items are joined to the answers of their response (convert._survey_layout):
        # a batch must hold every row of a response; a melt keeps a wide row's answers together.
        return self.name == "surveys" and bool(self.source.text_questions) and self.source.melt is None

    # ------------------------------------------------------------------ batches

    def file_tables(self, display: str, tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """The canonical rows of one file's ``tables`` (its wanted columns, as the file names
        them), batch by batch, cut to the period; then :meth:`end_file`. Raises
        :class:`DataError` for a file without data rows."""
        import pyarrow as pa

        raw_rows = file_rows = 0
        carry = None
        for table in tables:
            if not table.num_rows:
                continue
            raw_rows += table.num_rows
            finished = self._finish(display, table)
            file_rows += finished.num_rows
            self.rows_read += finished.num_rows
            if carry is not None:
                try:
                    finished = pa.concat_tables([carry, finished], promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise DataError(self.name, display, f"the types of the columns change within the file ({exc})") from None
            finished, carry = _split_last_response(finished) if self._responses is not None else (finished, None)
            # An empty batch (all carried, or melted to nothing) is converted only to learn the schema.
            if finished.num_rows or self.schema is None:
                yield self._convert(display, file_rows, finished)
        if carry is not None:
            yield self._convert(display, file_rows, carry)
        if not raw_rows:
            raise DataError(self.name, display, "file has a header but no data rows")
        self._file_rows = file_rows

    def end_file(self, display: str, sha256: str) -> None:
        """Record the file :meth:`file_tables` just read, with the SHA-256 of its bytes."""
        self.files.append(InputFile(display, self._file_rows, sha256))

    def add_query(self, input_file: InputFile) -> None:
        """Record a query's result (its rows are counted by the query)."""
        self.files.append(input_file)

    def _finish(self, display: str, table: pa.Table) -> pa.Table:
        """Canonical names, a hashed id where asked, the melt; every present column."""
        import pyarrow as pa

        table = finish_table(self.name, self.source, display, table, self.wanted)
        missing = [c for c in self.present if c not in table.column_names]
        if missing:
            names = self.present + [c for c in table.column_names if c not in self.present]
            table = pa.table([table[c] if c in table.column_names else pa.nulls(table.num_rows, pa.string()) for c in names], names=names)
        if self.source.format in ("parquet", "sql"):
            # The source knows its types: an attribute keeps it (other formats give text).
            for field in table.schema:
                if field.name not in self.present or pa.types.is_null(field.type):
                    continue
                self._types.setdefault(field.name, field.type)
        return table

    def _convert(self, display: str, file_rows: int, table: pa.Table) -> pa.Table:
        """One batch of finished rows to canonical types and the schema, cut to the period."""
        import numpy as np
        import pyarrow as pa

        start = self._converted
        self._converted += table.num_rows
        table = table.append_column(ROW_COLUMN, pa.array(np.arange(start, start + table.num_rows), pa.int64()))
        converted, pending, data = to_canonical_arrow(table, self.name, self.source, self.config), [], None
        if converted is None:
            frame = plain_text(table).to_pandas(types_mapper=string_mapper())
            frame.index = range(start, start + table.num_rows)
            # locate() needs the files read so far and this one's rows up to this batch.
            data = SourceData(name=self.name, frame=frame, files=[*self.files, InputFile(display, file_rows, "")], rows_read=self._converted)
            frame = to_canonical(data, self.source, self.config)
            pending, data.pending = data.pending, []
            converted = _from_pandas(frame)
        units = converted[UNIT] if UNIT in converted.column_names else None
        if units is not None:
            converted = converted.drop_columns([UNIT])
        if self.schema is None:
            self.schema = self._schema_of(converted)
        converted = self._conform(display, converted)
        inside = self._inside(converted)
        if inside is not None:
            self.rows_outside += int((~inside).sum())
        if data is not None:
            for column, expected, raw, bad in pending:
                record_issue(data, column, expected, raw, bad if inside is None else bad & inside)
            self._merge_issues([(c, e) for c, e, _, _ in pending], data.issues)
        if inside is not None:
            converted = converted.filter(pa.array(inside))
            units = units.filter(pa.array(inside)) if units is not None else None
        if units is not None:
            self._count_units(units)
        if self._responses is not None and "response_id" in table.column_names:
            self._check_together(display, table["response_id"])
        self.rows_kept += converted.num_rows
        return converted

    def _schema_of(self, table: pa.Table) -> pa.Schema:
        """Canonical types, whatever a first batch happened to hold: an empty column keeps the type
        of its kind; a label the first batch holds as a dictionary stays one (later batches are
        cast to it: the workspace file has one type per column)."""
        import pyarrow as pa

        kinds = {"id": pa.string(), "str": pa.string(), "float": pa.float64(), "ts": pa.timestamp("us", "UTC")}
        schema = SCHEMAS[self.name]
        fields = []
        for column in table.column_names:
            if column == ROW_COLUMN:
                continue
            kind = schema.get(column, Column("any")).kind
            if kind == "str" and is_text_dictionary(table.schema.field(column).type):
                fields.append(pa.field(column, text_dictionary()))
            elif kind != "any":
                fields.append(pa.field(column, kinds[kind]))
            elif column in NUMBER_EXTRAS:
                fields.append(pa.field(column, pa.float64()))
            else:
                fields.append(pa.field(column, self._types.get(column, pa.string())))
        return pa.schema([*fields, pa.field(ROW_COLUMN, pa.int64())])

    def _conform(self, display: str, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        assert self.schema is not None
        extra = set(table.column_names) - set(self.schema.names)
        if extra:
            raise RuntimeError(f"{self.name}: {display}: a batch has column(s) {sorted(extra)} the first one had not")
        arrays = []
        for field in self.schema:
            if field.name not in table.column_names:
                arrays.append(pa.nulls(table.num_rows, field.type))
                continue
            values = table[field.name]
            if values.type != field.type:
                try:
                    # A timestamp finer than microseconds is truncated (as a cast to us is).
                    values = values.cast(field.type, safe=not pa.types.is_timestamp(field.type))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(self.name, display, f"column {field.name!r} holds {values.type} values that do not fit "
                                                        f"the {field.type} of the source's first rows ({exc})") from None
            arrays.append(values)
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _inside(self, table: pa.Table) -> np.ndarray | None:
        """Rows in [period start, period end) or without a timestamp, when the source is cut."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = TIMESTAMP_COLUMN.get(self.name)
        if self.period is None or column is None or self.source.period_rows != "filter":
            return None
        tz = self.source.timezone or self.config.project.timezone
        utc = pa.timestamp("us", "UTC")
        ts = table[column]
        within = pc.and_kleene(pc.greater_equal(ts, pa.scalar(self.period.start(tz), utc)), pc.less(ts, pa.scalar(self.period.end(tz), utc)))
        return pc.or_kleene(within, pc.is_null(ts)).to_numpy(zero_copy_only=False)

    def _merge_issues(self, keys: list[tuple[str, str]], issues: list[ConversionIssue]) -> None:
        """Add a batch's issues: counts summed, the first samples and rows kept, in the order the
        conversion checks the columns (a key first seen now goes after the one it followed)."""
        previous = None
        for key in keys:
            if key not in self._order:
                self._order.insert(self._order.index(previous) + 1 if previous is not None else 0, key)
            previous = key
        for issue in issues:
            key = (issue.column, issue.expected)
            known = self._issues.get(key)
            if known is None:
                self._issues[key] = ConversionIssue(issue.column, issue.expected, issue.count, list(issue.samples), list(issue.rows))
            else:
                known.count += issue.count
                known.samples = (known.samples + issue.samples)[:_SAMPLES]
                known.rows = (known.rows + issue.rows)[:_SAMPLES]

    def _count_units(self, units: pa.ChunkedArray) -> None:
        """Count the export's own rows (responses, orders) behind a melted or long batch; a unit
        (an id) may have rows in several batches."""
        if self._units is None:
            self._units = _Distinct()
        self._units.add(units)

    def _check_together(self, display: str, responses: pa.ChunkedArray) -> None:
        assert self._responses is not None
        again = self._responses.add(responses)
        if again and not self._warned:
            self._warned = True
            log.warning("surveys: %s: the rows of a response are not all together (one appears again after other responses); "
                        "its text items are joined to its answers only within a run of rows: sort the export by response", display)

    @property
    def issues(self) -> list[ConversionIssue]:
        return [self._issues[key] for key in self._order if key in self._issues]

    def result(self, **stored) -> SourceData:
        """What was read: ``stored`` gives the rows (``frame``, or ``parquet`` and ``rows``)."""
        records = None if self._units is None else self._units.count
        data = SourceData(name=self.name, files=self.files, rows_read=self.rows_read, rows_outside_period=self.rows_outside,
                          issues=self.issues, records=records, **{"frame": None, **stored})
        for input_file in self.files:
            log.info("read %s: %s: %d rows", self.name, input_file.location, input_file.rows)
        log.info("read %s: %d rows from %d file(s), %d outside %s", self.name, self.rows_read, len(self.files), self.rows_outside, self.period)
        return data


class _Distinct:
    """Distinct values seen across batches, kept as 64-bit hashes (a few MB per million)."""

    def __init__(self) -> None:
        import numpy as np

        self.hashes = np.empty(0, dtype="uint64")

    def add(self, values: pa.ChunkedArray) -> bool:
        """Add ``values``; returns whether one of them was seen in an earlier call."""
        import numpy as np
        import pandas as pd

        new = np.unique(pd.util.hash_array(values.drop_null().to_numpy(zero_copy_only=False).astype(object), categorize=False))
        again = bool(np.isin(new, self.hashes, assume_unique=True).any())
        self.hashes = np.union1d(self.hashes, new)
        return again

    @property
    def count(self) -> int:
        return len(self.hashes)


def _from_pandas(frame: pd.DataFrame) -> pa.Table:
    """A converted frame as an Arrow table (types are made canonical by the schema next)."""
    import pyarrow as pa

    arrays = []
    for column in frame.columns:
        series = frame[column]
        try:
            arrays.append(pa.Array.from_pandas(series))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed Python values (a number here, text there) in an attribute: kept as text.
            arrays.append(pa.Array.from_pandas(series.astype("str").where(series.notna())))
    return pa.table(arrays, names=[str(c) for c in frame.columns])


def _split_last_response(table: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """``table`` without its last response's rows, and those rows (they may go on in the next batch)."""
    import numpy as np
    import pyarrow.compute as pc

    if "response_id" not in table.column_names or not table.num_rows:
        return table, None
    keys = table["response_id"]
    last = keys[-1]
    if not last.is_valid:
        return table, None
    same = pc.fill_null(pc.equal(keys, last), False).to_numpy(zero_copy_only=False)[::-1]
    run = len(same) if same.all() else int(np.argmin(same))
    return table.slice(0, len(same) - run), table.slice(len(same) - run)


def finish_table(name: str, source: SourceConfig, display: str, table, wanted: dict[str, bool]):
    """Rename the file's columns to canonical names, add a hashed id where asked, melt."""
    import pyarrow as pa

    mapping = _file_columns_for(source, wanted)
    melt_cols = source.melt.file_columns() if source.melt else []
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
