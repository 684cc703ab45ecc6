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

if TYPE_CHECKING:
    from cjm_tasks.config import SourceConfig


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


def read_table(name: str, source: SourceConfig, display: str, raw: bytes, columns: list[str]):
    import pyarrow as pa

    try:
        if source.format == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(pa.BufferReader(raw), **csv_options(source, columns))
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
