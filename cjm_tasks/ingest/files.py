"""Input files read in batches of bounded size: a file on this machine (an S3 object is
downloaded in chunks to a temporary folder first), its SHA-256, its header, and its rows as Arrow
tables of at most ``batch_rows`` rows. CSV goes through pyarrow's streaming reader, Parquet by
record batches, JSON Lines in line-aligned chunks (each parsed by
:func:`~cjm_tasks.ingest.readers.read_table`, its mixed-type fallback included); xlsx files are
small by nature and read whole. A file that does not parse is explained with its row, as the
whole-file reader (:mod:`~cjm_tasks.ingest.readers`) explains it.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError
from cjm_tasks.ingest.arrow_convert import is_text_type
from cjm_tasks.ingest.convert import clip
from cjm_tasks.ingest.limits import check_file, check_json_line, check_json_lines, check_values, human, line_too_long, setting
from cjm_tasks.ingest.readers import _header, csv_block, csv_options, read_table
from cjm_tasks.storage import CHUNK, Storage

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config import SourceConfig

# JSON Lines are parsed this many bytes at a time (cut at a line end): pyarrow's JSON reader
# is fast on pieces this size, and a piece and its table stay far below a batch's memory.
JSONL_CHUNK = 32 * 1024 * 1024
# A CSV file that fails to parse is read whole to name the bad row, when it is at most this big.
EXPLAIN_WHOLE = 256 * 1024 * 1024


@dataclass
class LocalFile:
    """An input file on this machine: ``display`` names it in messages (its URL for S3)."""

    display: str
    path: Path
    digest: Future | str

    def sha256(self) -> str:
        """The SHA-256 of the file's bytes (waits for the hashing thread of a local file)."""
        return self.digest if isinstance(self.digest, str) else self.digest.result()


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def local_files(files: list[tuple[str, Storage, str]]) -> Iterator[list[LocalFile]]:
    """The files ``expand_location`` listed, on this machine, with their SHA-256.

    A local file is used where it is and hashed on a thread while it is parsed (``hashlib``
    releases the GIL); an S3 object is downloaded in chunks into a temporary folder, hashed as
    it arrives, and removed when the block ends.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cjm-sha256") as pool, tempfile.TemporaryDirectory(prefix="cjm-input-") as tmp:
        out = []
        for n, (display, storage, key) in enumerate(files):
            path = storage.local_path(key)
            if path is not None:
                out.append(LocalFile(display, path, pool.submit(sha256_of, path)))
                continue
            target = Path(tmp) / f"{n:05d}-{PurePosixPath(key).name}"
            h = hashlib.sha256()
            with open(target, "wb") as fh:
                for chunk in storage.read_chunks(key):
                    h.update(chunk)
                    fh.write(chunk)
            out.append(LocalFile(display, target, h.hexdigest()))
        yield out


def file_header(name: str, source: SourceConfig, file: LocalFile) -> list[str]:
    """The column names of ``file`` (a CSV's first line, a Parquet schema, the keys of the first
    JSON lines, a sheet's first row). Raises :class:`DataError` for an empty, unreadable,
    compressed or too large file, a header line longer than ``max_line_bytes`` and a JSON line
    nested deeper than ``max_json_depth``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(file.path, "rb") as fh:
        check_file(name, source, file.display, file.path.stat().st_size, fh.read(16))
    if _blank(file.path):
        raise DataError(name, file.display, "file is empty")
    if source.format == "parquet":
        try:
            return pq.read_schema(file.path).names
        except (pa.ArrowException, OSError) as exc:
            raise DataError(name, file.display, f"not a readable Parquet file ({exc})") from None
    if source.format == "xlsx":
        return _header(name, source, file.display, file.path.read_bytes())
    limit = int(source.limits.max_line_bytes)
    with open(file.path, "rb") as fh:
        if source.format == "csv":
            # A CSV's header is its first line (ended by LF, CRLF or a lone CR): read no more than a line may hold.
            head = fh.readline(limit + 1)
            if len(head) > limit and not re.search(rb"[\r\n]", head):
                raise DataError(name, f"{file.display}, header", f"the first line is longer than the {human(limit)} "
                                                                 f"{setting(name, 'max_line_bytes')} allows (is this a CSV file?)")
        else:
            # JSON Lines name their fields in the first 200 lines, each checked before it is parsed.
            lines = []
            for number in range(1, 201):
                line = fh.readline(limit + 1)
                if not line:
                    break
                check_json_line(name, source, file.display, line, number)
                lines.append(line)
            head = b"".join(lines)
    return _header(name, source, file.display, head)


def _blank(path: Path) -> bool:
    """Whether the file holds nothing but whitespace (read until the first other byte)."""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            if not chunk.isspace():
                return False
    return True


def file_tables(name: str, source: SourceConfig, file: LocalFile, columns: list[str], batch_rows: int,
                id_columns: Collection[str] = (), labels: Collection[str] = ()) -> Iterator[pa.Table]:
    """The ``columns`` of ``file`` as Arrow tables of ``batch_rows`` rows (the last one shorter),
    each checked by :func:`~cjm_tasks.ingest.limits.check_values` (``id_columns``: the file's
    columns read as ids; ``labels``: those a Parquet file gives as dictionaries when they hold
    text). Raises :class:`DataError` naming the row (or line) where the file stops parsing or
    breaks a limit."""
    if source.format == "csv":
        pieces: Iterable = _csv_batches(name, source, file, columns, id_columns)
    elif source.format == "parquet":
        pieces = _parquet_batches(name, source, file, columns, batch_rows, id_columns, labels)
    elif source.format == "jsonl":
        pieces = _jsonl_tables(name, source, file, columns, batch_rows, id_columns)
    else:
        table = read_table(name, source, file.display, file.path.read_bytes(), columns)
        check_values(name, source, file.display, table, lambda i: f"data row {i + 1}", id_columns)
        pieces = [table]
    return rebatch(pieces, batch_rows)


def rebatch(pieces: Iterable, batch_rows: int) -> Iterator[pa.Table]:
    """Record batches or tables of any size as tables of ``batch_rows`` rows (no copy: the tables
    share the pieces' buffers). A batch is shorter at the end, and where the pieces' types change
    (two JSON Lines chunks can infer different types for one field): pieces of different types
    are never joined."""
    import pyarrow as pa

    held: list[pa.Table] = []
    for piece in pieces:
        table = piece if isinstance(piece, pa.Table) else pa.Table.from_batches([piece])
        if not table.num_rows:
            continue
        if held and table.schema != held[0].schema:
            yield _joined(held)
            held = []
        held.append(table)
        rows = sum(t.num_rows for t in held)
        while rows >= batch_rows:
            joined = _joined(held)
            yield joined.slice(0, batch_rows)
            rest = joined.slice(batch_rows)
            held, rows = ([rest] if rest.num_rows else []), rest.num_rows
    if held:
        yield _joined(held)


def _joined(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _csv_batches(name: str, source: SourceConfig, file: LocalFile, columns: list[str], id_columns: Collection[str]):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rows = 0
    block = csv_block(source)
    try:
        # The options of the whole-file reader (readers.read_table), read in blocks. An open file,
        # not its name: pyarrow would take a name ending in .gz for a compressed file.
        with pa.OSFile(str(file.path)) as raw:
            reader = pcsv.open_csv(raw, **csv_options(source, columns, block))
            for batch in reader:
                check_values(name, source, file.display, batch, lambda i, before=rows: f"data row {before + i + 1}", id_columns)
                rows += batch.num_rows
                yield batch
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if "straddl" in str(exc):
            # pyarrow's own advice (a larger block size) names no setting of ours: this one sets it.
            raise DataError(name, f"{file.display}, after data row {rows}",
                            f"a row is longer than the {human(block)} a block holds: a value longer than "
                            f"{setting(name, 'max_line_bytes')} ({human(source.limits.max_line_bytes)}), or a quote that is never closed") from None
        if file.path.stat().st_size <= EXPLAIN_WHOLE:
            # The whole-file reader names the row and the bytes; it raises for the same reason.
            read_table(name, source, file.display, file.path.read_bytes(), columns)
        raise DataError(name, f"{file.display}, after data row {rows}", f"cannot be parsed as csv: {clip(str(exc), 300)}") from None


def _parquet_batches(name: str, source: SourceConfig, file: LocalFile, columns: list[str], batch_rows: int, id_columns: Collection[str],
                     labels: Collection[str] = ()):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    try:
        parquet = pq.ParquetFile(file.path)
        schema = parquet.schema_arrow
        texts = [c for c in columns if c in labels and c in schema.names and is_text_type(schema.field(c).type)]
        if texts:  # opened again to read them as dictionaries, its footer not read twice
            parquet = pq.ParquetFile(file.path, read_dictionary=texts, metadata=parquet.metadata)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            # A damaged page can decode into text that is not UTF-8: caught here, not in the conversion.
            batch.validate(full=True)
            check_values(name, source, file.display, batch, lambda i, before=rows: f"data row {before + i + 1}", id_columns)
            rows += batch.num_rows
            yield batch
    except (pa.ArrowException, OSError) as exc:
        raise DataError(name, f"{file.display}, after data row {rows}", f"cannot be parsed as parquet (a damaged or truncated file?): {clip(str(exc), 300)}") from None


def _jsonl_tables(name: str, source: SourceConfig, file: LocalFile, columns: list[str], batch_rows: int, id_columns: Collection[str]):
    """Pieces of whole lines, at most ``JSONL_CHUNK`` bytes and ``batch_rows`` lines each, each
    checked for its lines' length and depth before it is parsed; an error's line (and byte) is
    counted from the start of the file."""
    offset = 0
    for piece in _line_pieces(name, source, file, batch_rows):
        if not piece.isspace():
            try:
                block = check_json_lines(name, source, file.display, piece)
                table = read_table(name, source, file.display, piece, columns, block)
                check_values(name, source, file.display, table, lambda i, piece=piece: f"line {_line_of_row(piece, i)}", id_columns)
                yield table
            except DataError as exc:
                lines = _lines_before(file.path, offset)
                raise DataError(name, _shift(exc.location, r"line (\d+)", lines), _shift(exc.detail, r"byte (\d+)", offset)) from None
        offset += len(piece)


def _line_of_row(piece: bytes, row: int) -> int:
    """The line of ``piece`` (from 1) that pyarrow read as its row ``row`` (from 0): blank lines hold no row."""
    seen = -1
    for number, line in enumerate(piece.split(b"\n"), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return row + 1


def _lines_before(path: Path, offset: int) -> int:
    """The number of line ends in the first ``offset`` bytes of the file."""
    lines = 0
    with open(path, "rb") as fh:
        while offset > 0 and (chunk := fh.read(min(CHUNK, offset))):
            lines += chunk.count(b"\n")
            offset -= len(chunk)
    return lines


def _line_pieces(name: str, source: SourceConfig, file: LocalFile, max_lines: int) -> Iterator[bytes]:
    limit = int(source.limits.max_line_bytes)
    with open(file.path, "rb") as fh:
        rest = b""
        while block := fh.read(JSONL_CHUNK):
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut:
                rest = data[cut:]
                yield from _split_lines(data[:cut], max_lines)
            else:
                rest = data
            if len(rest) > limit:
                # A line that never ends is refused before it fills the memory.
                raise line_too_long(name, source, f"{file.display}, line {_lines_before(file.path, fh.tell() - len(rest)) + 1}")
        if rest:
            yield from _split_lines(rest, max_lines)


def _split_lines(data: bytes, max_lines: int) -> Iterator[bytes]:
    """``data`` (whole lines) in pieces of at most ``max_lines`` lines."""
    if data.count(b"\n") <= max_lines:
        yield data
        return
    start = end = 0
    while end < len(data):
        for _ in range(max_lines):
            end = data.find(b"\n", end) + 1
            if end == 0:
                end = len(data)
                break
        yield data[start:end]
        start = end


def _shift(text: str, pattern: str, by: int) -> str:
    """``text`` with the first number matched by ``pattern`` increased by ``by``."""
    return re.sub(pattern, lambda m: m.group(0).replace(m.group(1), str(int(m.group(1)) + by)), text, count=1) if by else text
