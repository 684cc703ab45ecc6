"""The bounds every reader keeps (``limits:`` of a source, :class:`~cjm_tasks.config.sources.ReadLimits`):
what is checked before a parser sees the bytes (compressed files, the file's size, the length
and nesting depth of JSON lines) and what is checked on each parsed table before it is converted
(values nested where one value belongs, values longer than a field may be, control characters
in ids, a column name used twice).

A JSON value nested some ten thousand levels deep crashes pyarrow's parser (a segmentation fault,
no Python error) and a thousand exhausts Python's ``json``: the depth is bounded by counting the
opening brackets of each line, a pass over the bytes in C, and measured exactly (strings left out)
only on a line with more brackets than the limit. Every error names the file, the line or row,
the column where there is one, and the setting to raise when the value is genuine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config import SourceConfig

# pyarrow's JSON reader parses blocks of this size (its default): a longer line needs a larger block.
JSON_BLOCK = 1 << 20
# Every byte but the opening brackets and the line end: deleted to count brackets per line.
_NOT_OPENING = bytes(b for b in range(256) if b not in b"{[\n")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"{[]}")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Magic numbers of compressed files: read as text, they fail with a misleading decoding error.
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_CONTROL = r"[\x00-\x1f\x7f]"


def setting(name: str, key: str) -> str:
    """The configuration key of a limit of source ``name`` (what a message tells the user to raise)."""
    return f"sources.{name}.limits.{key}"


def human(size: int) -> str:
    """A byte count as people read it: ``1.0MiB``, ``512B``."""
    from pydantic import ByteSize

    return ByteSize(size).human_readable()


def check_file(name: str, source: SourceConfig, display: str, size: int, head: bytes) -> None:
    """Refuse a file larger than ``max_file_bytes``, and a compressed CSV or JSON Lines file
    (``head``: its first bytes), which the readers take as text. Raises :class:`DataError`."""
    limit = source.limits.max_file_bytes
    if limit is not None and size > limit:
        raise DataError(name, display, f"the file is {human(size)}, larger than the {human(limit)} "
                                       f"{setting(name, 'max_file_bytes')} allows (raise it if the file is genuine)")
    if source.format not in ("csv", "jsonl"):
        return
    kind = next((k for magic, k in _COMPRESSED if head.startswith(magic)), "bzip2" if _BZIP2.match(head) else None)
    if kind:
        raise DataError(name, display, f"the file is {kind}-compressed; {source.format} sources are read uncompressed: "
                                       f"decompress it first (a truncated or damaged archive cannot be read at all)")


def check_json_lines(name: str, source: SourceConfig, display: str, piece: bytes) -> int:
    """Refuse a line of ``piece`` (whole JSON lines) longer than ``max_line_bytes`` or nested
    deeper than ``max_json_depth``, naming the line (counted from the piece's first). Returns the
    block size pyarrow's JSON reader needs for the piece's longest line."""
    limits = source.limits
    block = JSON_BLOCK
    for start, end in _lines_longer_than(piece, JSON_BLOCK - 1):
        if end - start > limits.max_line_bytes:
            line = piece.count(b"\n", 0, start) + 1
            raise line_too_long(name, source, f"{display}, line {line}", end - start)
        # A block holds whole lines: twice the longest leaves room for the lines around it.
        block = max(block, 2 * (end - start + 1))
    opening = piece.translate(None, _NOT_OPENING)
    if len(opening) - opening.count(b"\n") <= limits.max_json_depth:
        return block
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(opening, np.uint8) == 10)
    # A line's depth is at most its count of opening brackets: only lines with more are measured.
    counts = np.diff(np.append(ends, len(opening)), prepend=-1) - 1
    suspects = np.flatnonzero(counts > limits.max_json_depth)
    if len(suspects):
        line_ends = np.append(np.flatnonzero(np.frombuffer(piece, np.uint8) == 10), len(piece))
        for n in suspects.tolist():
            start = int(line_ends[n - 1]) + 1 if n else 0
            if json_depth(piece[start:int(line_ends[n])]) > limits.max_json_depth:
                raise DataError(name, f"{display}, line {n + 1}",
                                f"a JSON value is nested more than {limits.max_json_depth} levels deep "
                                f"({setting(name, 'max_json_depth')}; a source's values are single values, not nested structures)")
    return block


def _lines_longer_than(data: bytes, size: int):
    """``(start, end)`` of every line of ``data`` longer than ``size`` bytes, found by jumping
    from one line end to the last one within ``size`` bytes (a few steps per megabyte)."""
    start = 0
    while start < len(data):
        if len(data) - start <= size:
            return
        cut = data.rfind(b"\n", start, start + size + 1)
        if cut >= 0:
            start = cut + 1
            continue
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        yield start, end
        start = end + 1


def json_depth(line: bytes) -> int:
    """How deep the brackets of one JSON text nest, brackets inside strings left out."""
    import numpy as np

    brackets = np.frombuffer(_JSON_STRING.sub(b"", line).translate(None, _NOT_BRACKET), np.uint8)
    if not len(brackets):
        return 0
    steps = np.where((brackets == ord("{")) | (brackets == ord("[")), 1, -1)
    return int(np.cumsum(steps).max())


def line_too_long(name: str, source: SourceConfig, location: str, length: int | None = None) -> DataError:
    """The error for a JSON line longer than ``max_line_bytes`` (``length`` when it was measured)."""
    limit = source.limits.max_line_bytes
    size = f"the line is {human(length)} long, longer" if length is not None else "the line is longer"
    return DataError(name, location, f"{size} than the {human(limit)} {setting(name, 'max_line_bytes')} allows "
                                     "(is the file JSON Lines, one object per line?)")


def check_json_line(name: str, source: SourceConfig, display: str, line: bytes, number: int) -> None:
    """One line read on its own, at most ``max_line_bytes`` and its end (the first lines name the
    fields): as :func:`check_json_lines`."""
    if len(line) > source.limits.max_line_bytes and not line.endswith(b"\n"):
        raise line_too_long(name, source, f"{display}, line {number}")
    try:
        check_json_lines(name, source, display, line.rstrip(b"\r\n"))
    except DataError as exc:
        raise DataError(name, f"{display}, line {number}", exc.detail) from None


def refuse_duplicate_columns(name: str, display: str, header: list[str], read: Collection[str]) -> None:
    """Refuse a header in which a column the source reads appears twice (a reader would silently
    take one of them), naming both positions."""
    first: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if column in first and column in read:
            raise DataError(name, display, f"columns {first[column]} and {position} are both named {column!r}: "
                                           f"rename one (only one of them can be read as {column!r})")
        first.setdefault(column, position)


def check_values(name: str, source: SourceConfig, display: str, table: pa.Table | pa.RecordBatch, row_of: Callable[[int], str],
                 id_columns: Collection[str] = ()) -> None:
    """Refuse a parsed table (columns as the file names them) with a nested value (a list, an
    object) where a single value belongs, a text longer than ``max_field_bytes``, or a control
    character in an id column. ``row_of`` names the row at a position of the table ("data row 7",
    "line 7"). Costs a pass over the offsets of each text column and the bytes of each id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    limit = int(source.limits.max_field_bytes)
    for field in table.schema:
        values = table[field.name]
        if pa.types.is_dictionary(field.type) and _is_text(field.type.value_type):
            # A label read as a dictionary: its few values checked; the rows only when one is too long.
            longest = max((pc.max(pc.binary_length(chunk.dictionary)).as_py() or 0 for chunk in values.chunks), default=0)
            if longest <= limit and field.name not in id_columns:
                continue
            values = values.cast(field.type.value_type)
            field = pa.field(field.name, field.type.value_type)
        if pa.types.is_nested(field.type):
            at = _first(pc.is_valid(values))
            if at is not None:
                what = "an object" if pa.types.is_struct(field.type) or pa.types.is_map(field.type) else "a list"
                raise DataError(name, f"{display}, {row_of(at)}", f"column {field.name!r} holds {what} ({field.type}) where a single "
                                                                   "value (a text, a number, a timestamp) is expected")
        elif _is_text(field.type) and values.num_chunks:
            lengths = pc.binary_length(values)
            longest = pc.max(lengths).as_py()
            if longest is not None and longest > limit:
                at = _first(pc.greater(lengths, limit))
                raise DataError(name, f"{display}, {row_of(at)}",
                                f"column {field.name!r} holds a value of {human(longest)}, longer than the {human(limit)} "
                                f"{setting(name, 'max_field_bytes')} allows (raise it if the value is genuine)")
            if field.name in id_columns and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
                _refuse_control(name, display, field.name, values, row_of)


def _is_text(type_: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_binary(type_) or pa.types.is_large_binary(type_)


def _refuse_control(name: str, display: str, column: str, values: pa.ChunkedArray, row_of: Callable[[int], str]) -> None:
    import numpy as np
    import pyarrow.compute as pc

    if not any(_has_control_byte(chunk, np) for chunk in values.chunks):
        return
    # A control byte in the buffer may lie in a null slot: the values themselves decide.
    at = _first(pc.fill_null(pc.match_substring_regex(values, _CONTROL), False))
    if at is None:
        return
    value = values[at].as_py()
    char = re.search(_CONTROL, value).group(0)
    raise DataError(name, f"{display}, {row_of(at)}", f"column {column!r} is an id and holds a control character "
                                                       f"({char!r} in {value!r}): ids must be printable text")


def _has_control_byte(chunk: pa.Array, np) -> bool:
    """Whether the bytes behind a string array's values hold a byte below 0x20 or 0x7f (a
    vectorised look at the data buffer: no value is decoded)."""
    import pyarrow as pa

    _, offsets, data = chunk.buffers()[:3]
    if data is None or not len(chunk):
        return False
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    bounds = np.frombuffer(offsets, width)[chunk.offset: chunk.offset + len(chunk) + 1]
    raw = np.frombuffer(data, np.uint8)[int(bounds[0]): int(bounds[-1])]
    return bool((raw < 0x20).any() or (raw == 0x7F).any())


def _first(mask) -> int | None:
    """The position of the first true value of a boolean (chunked) array, None when there is none."""
    import pyarrow.compute as pc

    position = pc.index(mask, True).as_py()
    return None if position is None or position < 0 else position
