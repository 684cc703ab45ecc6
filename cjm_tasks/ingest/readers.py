"""File formats: the header and the wanted columns of a CSV, Parquet, JSON Lines or xlsx file as
an Arrow table, and for a file that cannot be parsed, where and why (the row, the bytes, the
delimiter it seems to use).
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError
from cjm_tasks.ingest.convert import clip

if TYPE_CHECKING:
    from cjm_tasks.config import SourceConfig


def _header(name: str, source: SourceConfig, display: str, raw: bytes) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if source.format == "csv":
        # The first line ends at LF, CRLF or a lone CR (old Mac exports), as pyarrow reads the rows.
        first = re.split(rb"\r\n|\r|\n", raw, maxsplit=1)[0]
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
            obj = json.loads(line, object_pairs_hook=_unique_keys)
        except _DuplicateKey as dup:
            raise DataError(name, f"{display}, line {n}", f"key {dup.key!r} appears twice in one object (only one of them can be read)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(name, f"{display}, line {n}", f"not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise DataError(name, f"{display}, line {n}", "expected a JSON object per line")
        keys.extend(k for k in obj if k not in keys)
    return keys


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """``json.loads``' object hook: an object, unless it names a key twice (json keeps the last silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


# CSV blocks handed to pyarrow's reader; larger blocks parse faster, up to a point.
CSV_BLOCK = 16 * 1024 * 1024


def csv_block(source: SourceConfig) -> int:
    """pyarrow's CSV block size for a source: a row must fit in one block, so a block holds
    twice the longest row ``max_line_bytes`` allows."""
    return max(CSV_BLOCK, 2 * int(source.limits.max_line_bytes))


def csv_options(source: SourceConfig, columns: list[str], block_size: int | None = None) -> dict:
    """pyarrow's CSV options for a source, whole file or streamed: every wanted column as text
    (the canonical conversion reads the values), an empty field missing, a quoted one not."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return {
        "read_options": pcsv.ReadOptions(encoding=source.csv.encoding, **({"block_size": block_size} if block_size else {})),
        "parse_options": pcsv.ParseOptions(delimiter=source.csv.delimiter, quote_char=source.csv.quotechar, newlines_in_values=True),
        "convert_options": pcsv.ConvertOptions(include_columns=columns, column_types={c: pa.string() for c in columns},
                                               strings_can_be_null=True, quoted_strings_can_be_null=False),
    }


def read_table(name: str, source: SourceConfig, display: str, raw: bytes, columns: list[str], block_size: int | None = None):
    """The ``columns`` of a whole file (or of a piece of whole JSON lines: ``block_size`` is then
    the block :func:`~cjm_tasks.ingest.limits.check_json_lines` found its lines need) as a table.
    Raises :class:`DataError` naming the row or line that does not parse, and why."""
    import pyarrow as pa

    try:
        if source.format == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(pa.BufferReader(raw), **csv_options(source, columns, csv_block(source)))
        if source.format == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(pa.BufferReader(raw), columns=columns)
        if source.format == "xlsx":
            return pa.Table.from_pandas(_read_xlsx(name, source, display, raw, columns=columns), preserve_index=False)
        table = _read_jsonl(name, display, raw, columns, block_size)
        # pyarrow's JSON parser passes bytes that are not UTF-8 into text columns: refused here, with the line.
        table.validate(full=True)
        return table
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(name, *_explain_parse_error(source, display, raw, exc)) from None


def _read_jsonl(name: str, display: str, raw: bytes, columns: list[str], block_size: int | None):
    import pyarrow as pa
    import pyarrow.json as pjson

    try:
        table = pjson.read_json(pa.BufferReader(raw), read_options=pjson.ReadOptions(block_size=block_size or (1 << 20)))
    except pa.ArrowInvalid as exc:
        if "specified twice" in str(exc):
            _refuse_duplicate_key(name, display, raw)
        # Mixed types in one field (a number here, a string there): read every value as text
        # and let the canonical conversion report the values that are not what they should be.
        import pandas as pd

        # pandas would replace bytes that are not UTF-8; read_table names their line instead.
        raw.decode("utf-8")
        try:
            frame = pd.read_json(io.BytesIO(raw), lines=True, dtype=False)
        except ValueError:
            raise exc from None  # not JSON at all: read_table finds the line
        frame = frame[[c for c in columns if c in frame.columns]]
        _refuse_nested(name, display, raw, frame)
        return pa.Table.from_pandas(frame.astype(str).where(frame.notna(), None), preserve_index=False)
    return table.select([c for c in columns if c in table.column_names])


def _refuse_duplicate_key(name: str, display: str, raw: bytes) -> None:
    """Raise for the first line of ``raw`` whose object names a key twice (pyarrow says only that one does)."""
    import json

    for n, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip():
            try:
                json.loads(line, object_pairs_hook=_unique_keys)
            except _DuplicateKey as dup:
                raise DataError(name, f"{display}, line {n}", f"key {dup.key!r} appears twice in one object (only one of them can be read)") from None
            except ValueError:
                pass


def _refuse_nested(name: str, display: str, raw: bytes, frame) -> None:
    """Raise for a list or an object where a single value belongs (the text fallback would read it as Python's repr)."""
    for column in frame.columns:
        nested = frame[column].map(lambda v: isinstance(v, (dict, list)))
        if nested.any():
            row = int(nested.to_numpy().argmax())
            lines = [n for n, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
            kind = "an object" if isinstance(frame[column].iloc[row], dict) else "a list"
            raise DataError(name, f"{display}, line {lines[row] if row < len(lines) else row + 1}",
                            f"column {column!r} holds {kind} where a single value (a text, a number, a timestamp) is expected")


def _explain_parse_error(source: SourceConfig, display: str, raw: bytes, exc: Exception) -> tuple[str, str]:
    """(location, message) for a file that could not be parsed: find the bad row when we can."""
    if source.format in ("csv", "jsonl"):
        encoding = source.csv.encoding if source.format == "csv" else "utf-8"
        try:
            raw.decode(encoding)
        except UnicodeDecodeError as bad:
            line = raw.count(b"\n", 0, bad.start) + 1
            row = f"data row {line - 1}" if source.format == "csv" else f"line {line}"
            snippet = raw[max(0, bad.start - 10): bad.start + 4]
            # Only a CSV source has an encoding setting: JSON Lines are UTF-8 by definition.
            hint = (f"set csv.encoding if the file is not {encoding}" if source.format == "csv"
                    else "JSON Lines must be UTF-8: convert the file (e.g. iconv -f cp1251 -t utf-8)")
            return f"{display}, {row}", f"bytes cannot be decoded as {encoding} (byte {bad.start}, near {snippet!r}); {hint}"
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
    # pyarrow quotes the offending value whole: a message shows its start.
    return where, f"cannot be parsed as {source.format}: {clip(str(exc), 300)}"
