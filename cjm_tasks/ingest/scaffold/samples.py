"""Reading a sample of an export: the first rows of a CSV, JSON Lines, Parquet or xlsx file (or
a folder of part files), with the CSV encoding, delimiter and quote character told from its first
bytes."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cjm_tasks.errors import CjmError, DataError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ROWS = 20_000
HEAD_BYTES = 1 << 20  # read to tell the encoding, delimiter and quote character
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}


@dataclass
class Sample:
    """The first rows of one input, and how it was read."""

    path: Path            # the file, or the folder of part files, as given
    files: list[Path]
    format: str
    frame: pd.DataFrame
    truncated: bool       # the file has more rows than the sample
    csv: dict[str, str] = field(default_factory=dict)
    reading: list[str] = field(default_factory=list)   # evidence for the csv options
    sheets: list[str] = field(default_factory=list)


def read_sample(name: str, path: Path, rows: int = SAMPLE_ROWS) -> Sample:
    """The first ``rows`` rows of ``path`` (a file, or a folder of files of one format).

    Raises :class:`CjmError` for an unknown extension and :class:`DataError` for a file that
    cannot be read.
    """
    files = [path]
    if path.is_dir():
        kinds = Counter(p.suffix.lower() for p in path.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
        if not kinds:
            raise CjmError(f"--{name}: {path} holds no {', '.join(sorted(set(FORMATS)))} file")
        suffix = kinds.most_common(1)[0][0]
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == suffix)
    suffix = files[0].suffix.lower()
    if suffix not in FORMATS:
        raise CjmError(f"--{name}: {path}: unknown extension {suffix or '(none)'!r} (expected one of {', '.join(sorted(set(FORMATS)))})")
    import pandas as pd

    fmt = FORMATS[suffix]
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet, "xlsx": _read_xlsx}[fmt]
    how: dict[str, Any] = {}  # what reading the first file found out (csv dialect, sheets)
    frames, left = [], rows + 1
    for file in files:
        try:
            frame = reader(name, file, left, how)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise DataError(name, str(file), f"cannot be read as {fmt}: {exc}") from None
        frames.append(frame)
        left -= len(frame)
        if left <= 0:
            break
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise DataError(name, str(path), "no data rows")
    frame.columns = [str(c) for c in frame.columns]
    return Sample(path=path, files=files, format=fmt, frame=frame.head(rows).reset_index(drop=True),
                  truncated=len(frame) > rows or len(frames) < len(files), csv=how.get("csv", {}),
                  reading=how.get("reading", []), sheets=how.get("sheets", []))


def _read_csv(name: str, path: Path, rows: int, how: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    if "csv" not in how:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        if not head.strip():
            raise DataError(name, str(path), "file is empty")
        encoding, why = sniff_encoding(head)
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
        if len(head) == HEAD_BYTES and "\n" in text:
            text = text[: text.rindex("\n") + 1]  # the last line may be cut
        delimiter, quotechar, split = sniff_dialect(text)
        how["csv"] = {"delimiter": delimiter, "quotechar": quotechar, "encoding": encoding}
        how["reading"] = [why, split]
    opts = how["csv"]
    return pd.read_csv(path, sep=opts["delimiter"], quotechar=opts["quotechar"], encoding=opts["encoding"], nrows=rows,
                       dtype=str, keep_default_na=False, na_values=[""], engine="c")


def sniff_encoding(head: bytes) -> tuple[str, str]:
    """(encoding, evidence) of a file from its first bytes: UTF-8 (with or without a byte-order
    mark), else Windows-1251 when the non-ASCII letters form whole words (Cyrillic), else latin-1."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "the file starts with a UTF-8 byte-order mark"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "the file starts with a UTF-16 byte-order mark"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as bad:
        words = re.findall(rb"[A-Za-z\x80-\xff]+", head)
        foreign = [w for w in words if re.search(rb"[\x80-\xff]", w)]
        whole = sum(len(re.findall(rb"[\x80-\xff]", w)) >= 0.6 * len(w) for w in foreign)
        why = f"not UTF-8 (byte 0x{head[bad.start]:02X} at {bad.start:,})"
        if foreign and whole >= 0.5 * len(foreign):
            return "cp1251", f"{why}; {whole} of {len(foreign)} words with non-ASCII letters are wholly non-ASCII, as Cyrillic in Windows-1251"
        return "latin-1", f"{why}; non-ASCII letters sit inside Latin words ({len(foreign) - whole} of {len(foreign)} words), as in latin-1"
    if all(b < 0x80 for b in head):
        return "utf-8", f"the first {len(head):,} bytes are plain ASCII"
    return "utf-8", f"the first {len(head):,} bytes decode as UTF-8"


def sniff_dialect(text: str) -> tuple[str, str, str]:
    """(delimiter, quote character, evidence): the delimiter of , ; tab | that splits the header
    into the most columns with the data rows split alike."""
    best: tuple[tuple[float, int], str, str] | None = None
    quotechar = '"'
    try:
        sniffed = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
        if sniffed.quotechar in "\"'":
            quotechar = sniffed.quotechar
    except csv.Error:
        pass
    for delimiter in (",", ";", "\t", "|"):
        rows = []
        for row in csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar):
            rows.append(len(row))
            if len(rows) > 200:
                break
        if not rows or rows[0] < 2:
            continue
        body = [n for n in rows[1:] if n] or [rows[0]]
        alike = sum(n == rows[0] for n in body) / len(body)
        score = (round(alike, 2), rows[0])
        if best is None or score > best[0]:
            shown = "tab" if delimiter == "\t" else repr(delimiter)
            best = (score, delimiter, f"{shown} splits the header into {rows[0]} columns and {alike:.0%} of the first {len(body)} rows alike")
    if best is None:
        return ",", quotechar, "no delimiter splits the header: one column"
    return best[1], quotechar, best[2]


def _read_jsonl(name: str, path: Path, rows: int, how: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    records = []
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if not records and line.lstrip().startswith(b"["):
                raise DataError(name, str(path), "a JSON array, not JSON Lines (one object per line)")
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(name, f"{path}, line {n}", f"not valid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise DataError(name, f"{path}, line {n}", "expected a JSON object per line")
            records.append({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in record.items()})
            if len(records) >= rows:
                break
    return pd.DataFrame.from_records(records)


def _read_parquet(name: str, path: Path, rows: int, how: dict[str, Any]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
        batch = next(batches, None)
    except pa.ArrowException as exc:
        raise DataError(name, str(path), f"not a readable Parquet file ({exc})") from None
    if batch is None:
        raise DataError(name, str(path), "no data rows")
    return batch.to_pandas()


def _read_xlsx(name: str, path: Path, rows: int, how: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    try:
        import openpyxl  # noqa: F401  (pandas reads xlsx through it)
    except ImportError:
        raise CjmError("reading .xlsx needs the openpyxl package (pip install openpyxl)") from None
    with pd.ExcelFile(path) as book:
        how["sheets"] = [str(s) for s in book.sheet_names]
        return pd.read_excel(book, sheet_name=0, nrows=rows)
