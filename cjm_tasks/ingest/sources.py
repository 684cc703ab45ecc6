"""Read surveys, reviews, sales and customers into canonical tables.

A source is configured by location (path, glob or ``s3://``; ``{period}`` is replaced by the
period; a ``marker`` file its exporter writes when the period's files are complete is never read:
:func:`source_files`), format (CSV, Parquet, JSON Lines), a column mapping from the file's names to the
canonical names, value mappings, constants, an optional melt of wide exports, and the timestamp
column that cuts the quarter. Only the needed columns are parsed. Parsing is columnar (pyarrow);
no Python loop runs per row. A source is read in batches of bounded size, each converted by the
same code, into memory (:func:`read_source`: the batches concatenated) or into a Parquet file
(:func:`stream_source`, for the run's workspace: never more than a batch in memory).

Problems with a file (missing column, undecodable bytes, empty file, an unparseable number or
timestamp) are reported with the file, the data row and the column; conversion problems are kept
on the result for the validation gate rather than raised, so that one report lists all of them.

This module reads a source (files or a query); files in batches are in
:mod:`~cjm_tasks.ingest.files`, the conversion of a batch and what the batches report in
:mod:`~cjm_tasks.ingest.batches`, the file formats in :mod:`~cjm_tasks.ingest.readers`, the melt of wide exports in :mod:`~cjm_tasks.ingest.melt`, the
conversion to canonical types in :mod:`~cjm_tasks.ingest.convert` and the canonical columns in
:mod:`~cjm_tasks.ingest.canonical`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError, MissingInput
from cjm_tasks.ingest.arrow_convert import is_text_dictionary, plain_text
from cjm_tasks.ingest.batches import NUMBER_EXTRAS, SourceReading
from cjm_tasks.ingest.canonical import (DERIVED, ID_COLUMN, ROW_COLUMN, SCHEMAS, TIMESTAMP_COLUMN, Column, SourceData, _file_columns_for,
                                        _wanted_columns, string_mapper)
from cjm_tasks.ingest.files import file_header, file_tables, local_files, rebatch
from cjm_tasks.ingest.limits import check_values, refuse_duplicate_columns
from cjm_tasks.periods import Period
from cjm_tasks.storage import Storage, expand_location, has_glob, is_s3, split_s3

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config import CjmConfig, S3Config, SourceConfig

# Free text: as many distinct values as rows, so no Parquet dictionary.
FREE_TEXT = ("comment", "text")


def location_for(source: SourceConfig, period: Period | None) -> str:
    return source.location.replace("{period}", str(period)) if period else source.location


@dataclass(frozen=True)
class SourceFiles:
    """What a file source's location names for a period: ``files`` (``[(display, storage, key)]``,
    in name order: what reading reads) and ``marker`` (where the source's completeness marker must
    be; None when it declares none). The marker is never one of the files."""

    location: str
    files: list[tuple[str, Storage, str]]
    marker: str | None


def source_files(source: SourceConfig, period: Period | None, s3: S3Config | None = None) -> SourceFiles:
    """The files a file source reads for ``period`` (its location with ``{period}`` replaced,
    expanded by :func:`~cjm_tasks.storage.expand_location`), less its marker file, and where
    that marker is. Raises :class:`~cjm_tasks.storage.StorageError` when the location cannot be listed."""
    location = location_for(source, period)
    files = expand_location(location, s3)
    marker = marker_location(source, period, location, files)
    return SourceFiles(location, [f for f in files if normal_location(f[0]) != marker] if marker else files, marker)


def marker_location(source: SourceConfig, period: Period | None, location: str, files: list[tuple[str, Storage, str]]) -> str | None:
    """Where ``source.marker`` is for ``period``: resolved against the folder ``location`` names
    (it is one when ``files`` lie below it), else the folder its file or pattern sits in."""
    if source.marker is None:
        return None
    marker = source.marker.replace("{period}", str(period)) if period else source.marker
    base = location.rstrip("/")
    if has_glob(base):
        base = base[: min(base.index(c) for c in "*?[" if c in base)].rpartition("/")[0]
    elif not any(normal_location(display).startswith(base + "/") for display, _, _ in files):
        base = base.rpartition("/")[0]  # a file, or nothing there yet
    return normal_location(f"{base}/{marker}")


def normal_location(location: str) -> str:
    """``location`` with its ``.`` and ``..`` parts resolved in the text, as listings name files."""
    if is_s3(location):
        bucket, key = split_s3(location)
        return f"s3://{bucket}/{posixpath.normpath(key)}"
    return os.path.normpath(location)


# Rows converted at a time: big enough that per-batch work is noise, small enough that a batch,
# its canonical copy and the pyarrow buffers stay within a few hundred MB.
BATCH_ROWS = 1 << 20


def read_source(name: str, config: CjmConfig, period: Period | None, only: set[str] | None = None,
                batch_rows: int = BATCH_ROWS) -> SourceData:
    """Read source ``name`` of ``config`` for ``period`` into its canonical table (in memory).

    Rows outside [period start, period end) are dropped when the source's ``period_rows`` is
    ``filter`` and kept for the gate to reject when it is ``require``. The frame's index is each
    row's position in the input (what :meth:`SourceData.locate` takes). ``only`` (the dry run)
    reads those canonical columns, with the timestamp and the id. The rows are those
    :func:`stream_source` writes: the same batches of ``batch_rows``, concatenated.
    Raises :class:`~cjm_tasks.errors.MissingInput` (a :class:`DataError`) when no file matches,
    :class:`DataError` when a file is empty or undecodable or a required column is missing.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    tables: list[pa.Table] = []
    reading = _read(name, config, period, only, batch_rows, tables.append)
    frame = plain_text(pa.concat_tables(tables)).to_pandas(types_mapper=string_mapper())
    positions = frame.pop(ROW_COLUMN).to_numpy()
    contiguous = np.array_equal(positions, np.arange(len(positions)))
    frame.index = pd.RangeIndex(len(positions)) if contiguous else pd.Index(positions)
    return reading.result(frame=frame)


def stream_source(name: str, config: CjmConfig, period: Period | None, path: str | Path, batch_rows: int = BATCH_ROWS) -> SourceData:
    """Read source ``name`` for ``period`` into the Parquet file ``path`` (LZ4), one row group
    per batch of at most ``batch_rows`` input rows (a melt makes more): the rows
    :func:`read_source` gives, plus ``__row`` (their positions in the input). At most two batches
    are in memory: one being written while the next is read.

    Returns the :class:`SourceData` with ``parquet`` (``path``) and ``rows`` and no frame.
    Raises :class:`DataError` as :func:`read_source` does; ``path`` is removed then.
    """
    sink = _ParquetSink(Path(path), name)
    try:
        reading = _read(name, config, period, None, batch_rows, sink.write)
        sink.close()
    except BaseException:
        sink.abandon()
        raise
    return reading.result(parquet=str(path), rows=reading.rows_kept)


class _ParquetSink:
    """Canonical batches appended to one Parquet file, each written on a thread (pyarrow releases
    the GIL) while the next batch is read and converted."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cjm-parquet")
        self._writer = None
        self._pending: Future | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._pending is not None:
            self._pending.result()  # one write at a time, so at most two batches are held
            self._pending = None
        if self._writer is None:
            names = table.schema.names
            # LZ4 (LZ4_RAW, which DuckDB, Spark and pyarrow read): about twice zstd's bytes in the
            # run's workspace (kept for ``storage.keep_runs`` runs), for less CPU to write the
            # file and to read it back in each of the engine's passes (L: the sales 94 -> 180 MB,
            # the refresh 0.6-0.7 s faster, 1 s less CPU).
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="lz4", use_dictionary=_dictionary_columns(self.name, names),
                                            # Statistics of text columns cost a third of the writing;
                                            # readers prune row groups by instant and position.
                                            write_statistics=[c for c in (TIMESTAMP_COLUMN.get(self.name), ROW_COLUMN) if c in names],
                                            # Positions count up: deltas make them nearly free to write and store.
                                            column_encoding={ROW_COLUMN: "DELTA_BINARY_PACKED"},
                                            # Labels written from dictionaries (read so from Parquet):
                                            # without the Arrow schema every reader of the file sees
                                            # them as text, as it sees every other input's.
                                            store_schema=not any(is_text_dictionary(f.type) for f in table.schema))
        if table.num_rows:
            self._pending = self._pool.submit(self._writer.write_table, table, row_group_size=table.num_rows)

    def close(self) -> None:
        """Finish the file (every source gives at least one batch, maybe empty: the schema)."""
        if self._pending is not None:
            self._pending.result()
        assert self._writer is not None
        self._writer.close()
        self._pool.shutdown()

    def abandon(self) -> None:
        """Stop after an error: wait for the write under way, close, remove the file."""
        if self._pending is not None:
            self._pending.exception()
        if self._writer is not None:
            self._writer.close()
        self._pool.shutdown()
        self.path.unlink(missing_ok=True)


def _dictionary_columns(name: str, columns: list[str]) -> list[str]:
    """Columns worth a Parquet dictionary: labels (stages, channels, attributes). Ids, free texts,
    numbers and instants have nearly as many values as rows: their dictionary would cost time to
    build, then be given up."""
    schema = SCHEMAS[name]
    return [c for c in columns if schema.get(c, Column("any")).kind in ("str", "any") and c not in (*FREE_TEXT, *NUMBER_EXTRAS, ROW_COLUMN)]


def _read(name: str, config: CjmConfig, period: Period | None, only: set[str] | None, batch_rows: int,
          emit: Callable[[pa.Table], None]) -> SourceReading:
    """Read the source batch by batch, handing each canonical batch to ``emit``."""
    source = config.sources[name]
    wanted = _wanted_columns(name, source, config)
    if only is not None:
        # A dry run reads the columns it reports on (never the texts), with the timestamp for the cut.
        keep = only | {TIMESTAMP_COLUMN.get(name, ""), ID_COLUMN[name]} | set(source.attributes or [])
        keep |= {origin for derived, origin in DERIVED.get(name, {}).items() if derived in keep}
        wanted = {c: req for c, req in wanted.items() if c in keep}
    mapping = _file_columns_for(source, wanted)
    if source.format == "sql":
        from cjm_tasks.ingest.sql import read_query

        table, input_file = read_query(name, source, period, config.project.timezone, mapping)
        require_columns(name, source, input_file.location, table.column_names, wanted)
        refuse_duplicate_columns(name, input_file.location, table.column_names, table.column_names)
        check_values(name, source, input_file.location, table, lambda i: f"row {i + 1} of the result", _id_columns(name, mapping))
        reading = SourceReading(name, config, period, wanted, [c for fc, c, _ in mapping if fc in table.column_names])
        for batch in reading.file_tables(input_file.location, rebatch([table], batch_rows)):
            emit(batch)
        reading.add_query(input_file)
        return reading
    listing = source_files(source, period, config.s3)
    location, files = listing.location, listing.files
    if not files:
        raise MissingInput(name, location, "no file matches this location")
    with local_files(files) as inputs:
        headers = []
        for file in inputs:
            header = file_header(name, source, file)
            require_columns(name, source, file.display, header, wanted)
            headers.append(header)
        reading = SourceReading(name, config, period, wanted, [c for fc, c, _ in mapping if any(fc in h for h in headers)])
        melt_cols = source.melt.file_columns() if source.melt else []
        ids = _id_columns(name, mapping)
        labels = _label_columns(name, source, mapping)
        for file, header in zip(inputs, headers):
            # Only the needed columns are parsed, but a hashed id covers the whole row.
            columns = list(dict.fromkeys(header if source.row_id == "hash" else [fc for fc, _, _ in mapping if fc in header] + melt_cols))
            refuse_duplicate_columns(name, file.display, header, columns)
            for batch in reading.file_tables(file.display, file_tables(name, source, file, columns, batch_rows, ids, labels)):
                emit(batch)
            reading.end_file(file.display, file.sha256())
    return reading


def _id_columns(name: str, mapping: list[tuple[str, str, bool]]) -> set[str]:
    """The file columns read as ids (a control character in one is refused)."""
    schema = SCHEMAS[name]
    return {fc for fc, c, _ in mapping if schema.get(c, Column("any")).kind == "id"}


def _label_columns(name: str, source: SourceConfig, mapping: list[tuple[str, str, bool]]) -> set[str]:
    """The file columns read as dictionaries: labels (event types, channels, stages; not ids, free
    texts or attributes) of a Parquet source whose rows go through no hash and no melt. A label
    has a few distinct values over millions of rows; read as text each row's value is made, then
    looked up and encoded into the workspace's dictionary again."""
    if source.format != "parquet" or source.row_id == "hash" or source.melt:
        return set()
    schema = SCHEMAS[name]
    canonical: dict[str, set[str]] = {}
    for fc, c, _ in mapping:
        canonical.setdefault(fc, set()).add(c)
    return {fc for fc, cs in canonical.items() if all(schema.get(c, Column("any")).kind == "str" and c not in FREE_TEXT for c in cs)}


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


def read_sources(config: CjmConfig, period: Period | None, names: list[str] | None = None) -> dict[str, SourceData]:
    """Read every configured source (or ``names``) for ``period``."""
    return {name: read_source(name, config, period) for name in (names or list(config.sources))}
