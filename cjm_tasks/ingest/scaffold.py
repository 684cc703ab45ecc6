"""Write a first configuration from samples of a project's own files (``cjm init``).

:func:`init_project` reads the first rows of each file it is given (CSV, JSON Lines, Parquet or
xlsx, by extension; a folder stands for the files in it), guesses how to read it (encoding,
delimiter, quote character, timestamp format, survey layout) and which column is which, and writes
``cjm.yaml``, ``stages.yaml``, ``personas.yaml`` and ``expectations.yaml`` beside copies of the
bundled barrier catalog and its examples. Every guess is commented with what it rests on
(``# 98% of 500 values parse as %d.%m.%Y %H:%M``); every place it could not guess carries exactly
one ``# TODO:`` comment, and the result lists them.

Guessing is by column names (in English and Russian) and by the values of the sample: nothing is
sent anywhere and no file is read beyond its first :data:`SAMPLE_ROWS` rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cjm_tasks.config import DEFAULT_CONFIG
from cjm_tasks.errors import CjmError, DataError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SAMPLE_ROWS = 20_000
HEAD_BYTES = 1 << 20  # read to tell the encoding, delimiter and quote character
BUNDLED = DEFAULT_CONFIG.parent
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
SOURCES = ("surveys", "reviews", "sales", "customers")
WRITTEN = ("cjm.yaml", "stages.yaml", "personas.yaml", "expectations.yaml", "barriers.yaml", "barrier_examples.yaml")
BUNDLED_SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
MOSTLY = {"not_null": 1.0, "unique": 1.0, "range": 1.0, "in_set": 1.0, "in_period": 1.0}


@dataclass(frozen=True)
class Guess:
    """One guess about a source (or the project): what, the value chosen, and the evidence."""

    source: str
    key: str
    value: str
    evidence: str


@dataclass(frozen=True)
class Todo:
    """A place the guesses could not fill: the written file, the key and what to do."""

    file: str
    key: str
    message: str


@dataclass
class InitResult:
    """What :func:`init_project` wrote and why: the files, the guesses, the TODOs and the first
    quarter found in the data (``None`` when no timestamp or file name told)."""

    out: Path
    files: list[Path]
    guesses: list[Guess]
    todos: list[Todo]
    first_period: str | None


def init_project(surveys: Path | None = None, reviews: Path | None = None, sales: Path | None = None,
                 customers: Path | None = None, *, out: Path, force: bool = False) -> InitResult:
    """Sample the given files and write a commented configuration into ``out``.

    At least one of ``surveys``, ``reviews`` and ``sales`` is needed. Raises :class:`CjmError`
    when none is given, a file does not exist or has an unknown extension, or ``out`` holds files
    and ``force`` is false; :class:`DataError` when a file cannot be read.
    """
    given = {"surveys": surveys, "reviews": reviews, "sales": sales, "customers": customers}
    given = {name: Path(path) for name, path in given.items() if path is not None}
    if not set(given) & {"surveys", "reviews", "sales"}:
        raise CjmError("give at least one of --surveys, --reviews, --sales")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CjmError(f"{out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CjmError(f"{out} is not empty: choose an empty folder, or pass --force to overwrite {', '.join(WRITTEN)} in it")
    for name, path in given.items():
        if not path.exists():
            raise CjmError(f"--{name}: {path} does not exist")
    notes = Notes()
    samples = {name: read_sample(name, path) for name, path in given.items()}
    profiles = {name: profile(sample.frame) for name, sample in samples.items()}
    known = _customer_ids(profiles)
    plans = {name: _plan(name, samples[name], profiles[name], out, notes, known) for name in given}
    documents = _documents(plans, out, notes)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in documents.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        files.append(path)
    log.info("cjm init wrote %d files into %s with %d TODOs", len(files), out, len(notes.todos))
    periods = sorted(p for plan in plans.values() for p in plan.quarters)
    return InitResult(out=out, files=files, guesses=notes.guesses, todos=notes.todos, first_period=periods[0] if periods else None)


class Notes:
    """Collects the guesses and TODOs while the documents are built."""

    def __init__(self) -> None:
        self.guesses: list[Guess] = []
        self.todos: list[Todo] = []

    def guess(self, source: str, key: str, value: Any, evidence: str) -> str:
        self.guesses.append(Guess(source, key, str(value), evidence))
        return evidence

    def todo(self, file: str, key: str, message: str) -> str:
        """Record a TODO and return the comment text that marks it in ``file``."""
        self.todos.append(Todo(file, key, message))
        return f"TODO: {message}"


# --------------------------------------------------------------------------- reading a sample


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


# --------------------------------------------------------------------------- column profiles


@dataclass
class Stamp:
    """A column read as timestamps: its format (None: stored as timestamps), how many parse, why."""

    format: str | None
    share: float
    evidence: str
    parsed: pd.Series       # UTC timestamps, aligned to the sample's rows
    undecided: bool = False  # day-first by default: no value told day from month


@dataclass
class Col:
    """What the sample shows of one column."""

    name: str
    rows: int
    texts: pd.Series        # non-empty values as text, aligned to the sample's rows
    numbers: pd.Series      # the values that are numbers
    numeric_share: float
    mean_length: float
    spaced: float           # share of values holding a space
    distinct: int
    native: str             # numeric, datetime, text
    stamp: Stamp | None = None

    @property
    def filled(self) -> int:
        return len(self.texts)

    @property
    def integers(self) -> bool:
        return bool(len(self.numbers)) and bool((self.numbers % 1 == 0).all())

    @property
    def numeric(self) -> bool:
        return self.filled > 0 and self.numeric_share >= 0.9

    @property
    def wordy(self) -> bool:
        return self.stamp is None and self.numeric_share < 0.5 and self.mean_length >= 12 and self.spaced >= 0.3

    @property
    def free_text(self) -> bool:
        """Words, mostly different from row to row (event names and categories repeat)."""
        return self.wordy and (self.distinct > 60 or self.distinct >= 0.5 * self.filled)

    @property
    def idlike(self) -> bool:
        return (self.stamp is None and self.filled > 0 and self.spaced < 0.05 and self.mean_length <= 64
                and not (self.numeric and not self.integers))

    @property
    def unique(self) -> bool:
        return self.filled == self.rows and self.distinct == self.filled

    def low_card(self, high: int = 20) -> bool:
        return self.stamp is None and 2 <= self.distinct <= high and self.distinct < self.filled and not self.free_text

    def small_scale(self) -> bool:
        """Whole numbers in 0..10 with few values: a score or rating."""
        if not self.numeric or not self.integers or self.stamp is not None:
            return False
        return self.numbers.min() >= 0 and self.numbers.max() <= 10 and self.distinct <= 11


def profile(frame: pd.DataFrame) -> dict[str, Col]:
    """Profile every column of a sample, timestamps included."""
    import numpy as np
    import pandas as pd

    cols = {}
    for name in frame.columns:
        series = frame[name]
        present = series[series.notna()]
        native = "text"
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            native, texts, numbers = "datetime", present.astype(str), pd.Series(dtype="float64")
        elif pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            native, numbers = "numeric", present.astype("float64")
            texts = present.astype(str)
        else:
            if series.dtype == object and len(present) and present.map(lambda v: hasattr(v, "isoformat")).mean() >= 0.9:
                native = "datetime"  # dates of a workbook
                present = present.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
            texts = present.astype(str).str.strip()
            texts = texts[texts != ""]
            numbers = pd.to_numeric(texts, errors="coerce")
        numbers = numbers[np.isfinite(numbers.to_numpy(dtype="float64", na_value=np.nan))]
        lengths = texts.str.len()
        col = Col(name=name, rows=len(frame), texts=texts, numbers=numbers,
                  numeric_share=len(numbers) / len(texts) if len(texts) else 0.0,
                  mean_length=float(lengths.mean()) if len(texts) else 0.0,
                  spaced=float(texts.str.contains(r"\s", regex=True).mean()) if len(texts) else 0.0,
                  distinct=int(texts.nunique()), native=native)
        col.stamp = _stamp(col, series)
        cols[name] = col
    return cols


TIME_WORDS = ("time", "date", "ts", "timestamp", "datetime", "created", "updated", "at", "when", "submitted", "published",
              "occurred", "answered", "posted", "дата", "время")
ISO_RE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
DMY_RE = (r"^(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})"
          r"(?:(?P<t>[ T]+)(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?P<f>\.\d+)?)?\s*(?P<p>[AaPp][Mm])?)?$")


def _stamp(col: Col, series: pd.Series) -> Stamp | None:
    """The column as timestamps, when at least 90% of its values read as one format."""
    import pandas as pd

    if not col.filled:
        return None
    if col.native == "datetime":
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
        where = "stored as dates in the workbook, read as ISO 8601 text" if not pd.api.types.is_datetime64_any_dtype(series.dtype) \
            else "stored as timestamps in the file"
        return Stamp(None, 1.0, where, parsed)
    if col.numeric_share >= 0.95:
        return _numeric_stamp(col, series)
    head = col.texts.head(500)
    if head.str.match(ISO_RE).mean() >= 0.9:
        parsed = pd.to_datetime(col.texts, format="ISO8601", errors="coerce", utc=True)
        share = parsed.notna().mean()
        if share >= 0.9:
            return Stamp("iso8601", share, f"{share:.0%} of {col.filled:,} values parse as ISO 8601 (e.g. {col.texts.iloc[0]})",
                         parsed.reindex(series.index))
    parts = col.texts.str.extract(DMY_RE)
    if parts["a"].notna().mean() < 0.9:
        return None
    return _dated_stamp(col, parts.dropna(subset=["a"]), series)


def _dated_stamp(col: Col, parts: pd.DataFrame, series: pd.Series) -> Stamp | None:
    """A day/month/year format: which number is the day is told by values above 12."""
    import pandas as pd

    sep = parts["sep"].mode().iloc[0]
    a, b = parts["a"].astype(int), parts["b"].astype(int)
    undecided = False
    if parts["a"].str.len().max() == 4:
        fmt, why = f"%Y{sep}%m{sep}%d", "the year comes first"
    else:
        if not parts["c"].str.len().isin([2, 4]).all() or (a > 31).any() or (b > 31).any():
            return None
        year = "%Y" if parts["c"].str.len().mode().iloc[0] == 4 else "%y"
        day_first, month_first = int((a > 12).sum()), int((b > 12).sum())
        if day_first and month_first:
            return None
        if month_first:
            fmt, why = f"%m{sep}%d{sep}{year}", f"{month_first:,} values have a second number above 12 (a day)"
        else:
            fmt = f"%d{sep}%m{sep}{year}"
            why = f"{day_first:,} values have a first number above 12 (a day)" if day_first else "no number above 12 tells day from month"
            undecided = not day_first
    timed = parts["h"].notna()
    if timed.mean() >= 0.5:
        t = parts.loc[timed]
        clock = "%I" if t["p"].notna().mean() >= 0.5 else "%H"
        clock += ":%M" + (":%S" if t["s"].notna().mean() >= 0.5 else "") + (".%f" if t["f"].notna().mean() >= 0.5 else "")
        joiner = "T" if t["t"].str.strip().eq("T").mean() >= 0.5 else " "
        fmt += joiner + clock + (" %p" if clock.startswith("%I") else "")
    parsed = pd.to_datetime(col.texts, format=fmt, errors="coerce")
    share = parsed.notna().mean()
    if share < 0.9:
        return None
    parsed = parsed.dt.tz_localize("UTC", ambiguous="NaT", nonexistent="shift_forward").reindex(series.index)
    return Stamp(fmt, share, f"{share:.0%} of {col.filled:,} values parse as {fmt}; {why}", parsed, undecided)


def _numeric_stamp(col: Col, series: pd.Series) -> Stamp | None:
    """Seconds or milliseconds since 1970, or Excel serial days, told by their magnitude."""
    import pandas as pd

    nums = col.numbers
    if not len(nums):
        return None
    low, high = float(nums.min()), float(nums.max())
    hinted = _named(col.name, TIME_WORDS)
    if _is_id_name(col.name) and not hinted:
        return None
    kind = None
    if 1e9 <= low and high <= 2.2e9 and (hinted or high - low > 86_400):
        kind, unit, what = "epoch_seconds", "s", "seconds since 1970"
    elif 1e12 <= low and high <= 2.2e12 and (hinted or high - low > 86_400_000):
        kind, unit, what = "epoch_milliseconds", "ms", "milliseconds since 1970"
    elif 20_000 <= low and high <= 80_000:
        # Prices can fall in this range too; serial dates carry a time of day as a long fraction.
        decimals = col.texts.loc[nums.index].str.extract(r"\.(\d+)$")[0].str.len().fillna(0)
        if hinted or (decimals > 2).mean() >= 0.5:
            kind, unit, what = "excel", "D", "Excel serial days"
    if kind is None:
        return None
    if unit == "D":
        parsed = pd.to_datetime(nums, unit="D", origin="1899-12-30", utc=True)
    else:
        parsed = pd.to_datetime(nums, unit=unit, utc=True)
    share = len(nums) / col.filled
    span = f"{parsed.min():%Y-%m-%d} .. {parsed.max():%Y-%m-%d}"
    whole = "whole numbers" if col.integers else "numbers"
    return Stamp(kind, share, f"{share:.0%} of {col.filled:,} values are {whole} from {low:,.0f} to {high:,.0f}: {what}, {span}",
                 parsed.reindex(series.index))


# --------------------------------------------------------------------------- names and words


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-zа-яё])([A-ZА-ЯЁ])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^0-9a-zа-яё]+", spaced.lower()) if w]


def _match(words: list[str], stems: tuple[str, ...]) -> str | None:
    """The first stem a word matches: whole short words, prefixes for stems of four letters or more."""
    for stem in stems:
        for word in words:
            if word == stem or (len(stem) >= 4 and word.startswith(stem)):
                return stem
    return None


def _named(name: str, stems: tuple[str, ...]) -> bool:
    return _match(_words(name), stems) is not None


ID_WORDS = ("id", "uuid", "guid", "key", "number", "no", "nr", "num", "номер")
CUSTOMER_WORDS = ("customer", "cust", "client", "user", "author", "reviewer", "buyer", "member", "account", "shopper", "respondent",
                  "клиент", "покупател", "пользовател", "автор")
NOT_SCORE_WORDS = ("age", "year", "month", "day", "hour", "count", "qty", "quantity", "number", "num", "code", "zip", "index",
                   "size", "level", "tier", "segment", "group", "region", "cluster", "class", "type", "category", "gender",
                   "children", "kids", "visits", "orders", "items", "id", "votes", "vote", "length", "lenght", "photos",
                   "возраст", "год", "количеств")
# Words that make a customer-named column a fact about the customer rather than their id.
NOT_CUSTOMER_ID_WORDS = ("zip", "postal", "postcode", "city", "state", "region", "country", "address", "prefix", "lat", "lng",
                         "lon", "segment", "type", "age", "gender", "since", "город", "регион", "индекс", "адрес")


def _is_id_name(name: str) -> bool:
    return _named(name, ID_WORDS)


def _slug(text: str, prefix: str = "") -> str:
    """An id of ``[a-z0-9_]`` from ``text``, transliterated from Russian."""
    from cjm_tasks.maps.suggest import _TRANSLIT  # one transliteration table for the project

    # A scale hint such as "(1-5)" or "[0..10]" names no question.
    ascii_text = re.sub(r"[(\[][\d\s.,/-]*[)\]]", " ", str(text)).lower().translate(_TRANSLIT)
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")
    if len(slug) > 32:  # a long question text: its first words
        slug = slug[:33].rsplit("_", 1)[0]
    if prefix and not slug.startswith(prefix.rstrip("_")):
        slug = f"{prefix}{slug}" if slug else prefix.rstrip("_")
    return slug


def _unique_id(candidate: str, taken: set[str]) -> str:
    value, n = candidate, 2
    while value in taken:
        value, n = f"{candidate}_{n}", n + 1
    taken.add(value)
    return value


def _comment(text: str) -> str:
    """``text`` on one line, without control characters, shortened for a YAML comment."""
    line = "".join(c for c in " ".join(str(text).split()) if c.isprintable())
    return line if len(line) <= 160 else line[:157] + "..."


def _quote(value: Any) -> str:
    text = _comment(value)
    return f"'{text[:60]}'" + ("..." if len(text) > 60 else "")


# Stage words, checked in this order: "reorder" is loyalty before "order" is purchase, "sms_click"
# a reminder before "click" is awareness, "return_order" experience before purchase.
STAGE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loyalty", ("loyalty", "repeat", "reorder", "again", "loyal", "referral", "refer", "subscribe", "subscription", "recommend",
                 "retention", "повтор", "лояльн", "рекоменд", "подписк")),
    ("reminder", ("reminder", "remind", "email", "mail", "sms", "push", "newsletter", "notification", "notify",
                  "рассылк", "напомин", "уведомл")),
    ("experience", ("experience", "return", "support", "complaint", "complain", "register", "registration", "registered",
                    "refund", "warranty", "repair", "use", "usage", "возврат", "поддержк", "жалоб", "регистрац", "использ")),
    ("purchase", ("purchase", "checkout", "order", "buy", "bought", "purchas", "pay", "paid", "payment", "deliver", "ship",
                  "cancel", "courier", "parcel", "package", "receiv", "received", "arrive", "arrived", "late", "delay",
                  "заказ", "покупк", "оплат", "доставк", "курьер", "посылк", "получ")),
    ("evaluation", ("evaluation", "view", "compare", "compar", "cart", "basket", "wishlist", "wish", "detail", "product",
                    "info", "choice", "choose", "select", "просмотр", "сравн", "корзин", "выбор", "товар")),
    ("awareness", ("awareness", "visit", "click", "ad", "ads", "advert", "search", "impression", "banner", "landing",
                   "social", "found", "find", "discover", "hear", "heard", "визит", "переход", "реклам", "поиск")),
)
ORDER_WORDS = ("order", "orders", "ordered", "purchase", "purchas", "buy", "bought", "reorder", "заказ", "покупк")
NOT_ORDER_WORDS = ("cancel", "fail", "failed", "declin", "reject", "return", "refund", "abandon", "deliver", "ship", "late",
                   "delay", "view", "cart", "basket", "track", "status", "отмен", "возврат", "достав", "отказ")
LOYALTY_ORDER_WORDS = ("repeat", "reorder", "повтор")


def stage_of(*texts: str) -> tuple[str, str] | None:
    """(stage id, the word that placed it) for an event or question, by the words of its texts."""
    words = [w for t in texts for w in _words(t)]
    for stage, stems in STAGE_WORDS:
        hit = _match(words, stems)
        if hit:
            return stage, hit
    return None


# --------------------------------------------------------------------------- planning a source


@dataclass
class Question:
    id: str
    label: str          # the column name or question text it came from
    low: float
    high: float
    answers: int
    metric: str = ""


@dataclass
class Plan:
    """What a source's section of cjm.yaml says, and what the other files need from it."""

    name: str
    sample: Sample
    cols: dict[str, Col]
    tree: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)   # file column -> canonical name(s) (Note)
    when: pd.Series | None = None                # UTC timestamps of the rows
    units: pd.Series | None = None               # the export's own record per row (responses)
    quarters: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)
    customer: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)   # canonical attribute -> file column
    amount_max: float | None = None
    comment: bool = False
    texts: list[pd.Series] = field(default_factory=list)
    period: str | None = None
    known: dict[str, set[str]] = field(default_factory=dict)   # customer ids named as such in the other files


def _plan(name: str, sample: Sample, cols: dict[str, Col], out: Path, notes: Notes, known: dict[str, set[str]]) -> Plan:
    others = {source: ids for source, ids in known.items() if source != name}
    plan = Plan(name=name, sample=sample, cols=cols, known=others)
    rows = len(sample.frame)
    more = f" (the file has more: sampled the first {rows:,})" if sample.truncated else ""
    plan.tree[Comment(f"{rows:,} rows sampled from {sample.path}{more}")] = None
    location, plan.period, why = _location(sample, out, notes, name)
    plan.tree["location"] = Note(location, why)
    plan.tree["format"] = Note(sample.format, notes.guess(name, "format", sample.format, f"the file name ends in {sample.files[0].suffix}"))
    if sample.format == "csv":
        evidence = "; ".join(sample.reading)
        notes.guess(name, "csv", ", ".join(f"{k} {v!r}" for k, v in sample.csv.items()), evidence)
        plan.tree["csv"] = Note(dict(sample.csv), evidence, flow=True)
    if sample.format == "xlsx" and len(sample.sheets) > 1:
        plan.tree["sheet"] = Note(sample.sheets[0], f"the first of {len(sample.sheets)} sheets: {', '.join(sample.sheets)}")
    {"surveys": _plan_surveys, "reviews": _plan_reviews, "sales": _plan_sales, "customers": _plan_customers}[name](plan, notes)
    if name != "customers":
        _period_rows(plan, notes)
    head = {k: v for k, v in plan.tree.items() if isinstance(k, Comment)}
    plan.tree = {**head, **{k: plan.tree[k] for k in KEY_ORDER if k in plan.tree}}
    return plan


KEY_ORDER = ("location", "format", "csv", "sheet", "timestamp_format", "period_rows", "row_id", "layout", "columns", "values",
             "constants", "text_questions", "melt", "scales", "attributes")


def _location(sample: Sample, out: Path, notes: Notes, name: str) -> tuple[str, str | None, str]:
    """(location, the quarter its name holds, comment): relative to ``out`` below a common
    parent, else absolute; a quarter such as 2025Q1 in the name becomes {period}."""
    path = sample.path.resolve()
    target = path / f"*{sample.files[0].suffix}" if sample.path.is_dir() else path
    base = out.resolve()
    common = Path(os.path.commonpath([str(target), str(base)]))
    text = os.path.relpath(target, base) if common.parent != common else str(target)
    text = text.replace(os.sep, "/")
    why = "relative to this file's folder" if common.parent != common else "absolute: no folder holds both this file and the data"
    found = re.findall(r"(?<![0-9])(\d{4})([-_ ]?)([Qq])([1-4])(?![0-9])", str(target))
    if not found:
        return text, None, why
    year, joiner, q, number = found[-1]
    literal = f"{year}{joiner}{q}{number}"
    if joiner or q != "Q":
        message = (f"the file name holds the quarter as {literal!r}, but {{period}} is written {year}Q{number}: "
                   f"rename the files to use {{period}} in location, or keep one file with period_rows: filter")
        return text, None, notes.todo("cjm.yaml", f"sources.{name}.location", message)
    notes.guess(name, "location", text.replace(literal, "{period}"), f"{literal} in the file name becomes {{period}}")
    return text.replace(literal, "{period}"), f"{year}Q{number}", f"{literal} in the name becomes {{period}}, the quarter read; {why}"


def _period_rows(plan: Plan, notes: Notes) -> None:
    if plan.period:
        plan.quarters = [plan.period]
    if plan.when is None:
        return
    quarters = _quarters(plan.when)
    plan.quarters = sorted(quarters)
    if plan.period:
        outside = sum(n for q, n in quarters.items() if q != plan.period)
        if not outside:
            plan.tree["period_rows"] = Note("require", f"every sampled timestamp lies in {plan.period}: a row outside its quarter fails the gate")
        else:
            total = sum(quarters.values())
            plan.tree["period_rows"] = Note("filter", f"{outside:,} of {total:,} sampled timestamps lie outside {plan.period}: keep the quarter's rows")
        plan.quarters = sorted(set(plan.quarters) | {plan.period})
    else:
        span = f"{plan.quarters[0]}..{plan.quarters[-1]}" if plan.quarters else "no quarter"
        plan.tree["period_rows"] = Note("filter", f"one file for every quarter (the sample spans {span}): each run keeps its quarter's rows")


def _quarters(when: pd.Series) -> dict[str, int]:
    stamps = when.dropna()
    if not len(stamps):
        return {}
    naive = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return {str(k): int(v) for k, v in naive.dt.to_period("Q").value_counts().sort_index().items()}


ROLE_TIME_WORDS = {
    "surveys": ("answered", "answer", "submitted", "submit", "completed", "complete", "responded", "response", "created"),
    "reviews": ("published", "publish", "posted", "post", "review", "created"),
    "sales": ("occurred", "event", "created", "time", "timestamp"),
}


def _timestamp(plan: Plan, notes: Notes, canonical: str, used: set[str]) -> None:
    """Pick the source's timestamp column and write its format."""
    stamped = [c for c in plan.cols.values() if c.stamp is not None and c.name not in used]
    if not stamped:
        plan.columns[Comment(notes.todo("cjm.yaml", f"sources.{plan.name}.columns",
                                        f"no column reads as timestamps: map yours (`your_column: {canonical}`) and set timestamp_format"))] = None
        return
    role = ROLE_TIME_WORDS[plan.name]
    chosen = max(stamped, key=lambda c: (_named(c.name, role), _named(c.name, TIME_WORDS), c.stamp.share, -list(plan.cols).index(c.name)))
    stamp = chosen.stamp
    others = [c.name for c in stamped if c is not chosen]
    tail = f" (also timestamps: {', '.join(others)})" if others else ""
    plan.columns[chosen.name] = Note(canonical, f"timestamps{tail}")
    used.add(chosen.name)
    plan.when = stamp.parsed
    if stamp.format is None and chosen.native == "datetime" and plan.sample.format != "xlsx":
        notes.guess(plan.name, canonical, chosen.name, stamp.evidence)
    else:
        fmt = stamp.format or "iso8601"
        comment = stamp.evidence
        if stamp.undecided:
            comment = notes.todo("cjm.yaml", f"sources.{plan.name}.timestamp_format",
                                 f"{stamp.evidence}: read day-first; if {chosen.name!r} is month-first write {fmt.replace('%d', '%D').replace('%m', '%d').replace('%D', '%m')}")
        plan.tree["timestamp_format"] = Note(fmt, comment)
        notes.guess(plan.name, canonical, f"{chosen.name} ({fmt})", stamp.evidence)


def _customer_ids(profiles: dict[str, dict[str, Col]]) -> dict[str, set[str]]:
    """Per file, the values of its columns named like a customer id."""
    return {source: {v for c in cols.values() if _customer_named(c) and c.idlike for v in c.texts.unique()}
            for source, cols in profiles.items()}


def _customer_named(col: Col) -> bool:
    return _named(col.name, CUSTOMER_WORDS) and not _named(col.name, NOT_CUSTOMER_ID_WORDS)


def _shared_ids(plan: Plan, used: set[str]) -> tuple[Col, float, list[str]] | None:
    """The column whose values are, for the most part, customer ids of another file."""
    best = None
    for col in plan.cols.values():
        if col.name in used or not col.idlike or col.distinct < 2:
            continue
        values = col.texts.drop_duplicates()
        for source, ids in plan.known.items():
            share = float(values.isin(ids).mean()) if ids else 0.0
            if share >= 0.5 and (best is None or share > best[1]):
                best = (col, share, [source])
    return best


def _customer(plan: Plan, notes: Notes, used: set[str], required: bool) -> None:
    candidates = [c for c in plan.cols.values() if c.name not in used and c.stamp is None and not c.free_text
                  and _customer_named(c) and c.distinct >= 2]
    if candidates:
        chosen = max(candidates, key=lambda c: (_is_id_name(c.name), c.idlike, c.distinct))
        why = "named like a customer"
    else:
        shared = _shared_ids(plan, used)
        if shared is None:
            if required:
                plan.columns[Comment(notes.todo("cjm.yaml", f"sources.{plan.name}.columns",
                                                "no customer id column found: map yours (`your_column: customer_id`)"))] = None
            return
        chosen, share, sources = shared
        why = f"{share:.0%} of its values are customer ids of {', '.join(sources)}"
    per = chosen.filled / max(chosen.distinct, 1)
    plan.columns[chosen.name] = Note("customer_id", notes.guess(plan.name, "customer_id", chosen.name,
                                                                f"{why}; {chosen.distinct:,} customers, {per:.1f} rows each"))
    plan.customer = chosen.name
    used.add(chosen.name)


def _record_id(plan: Plan, notes: Notes, canonical: str, used: set[str], hints: tuple[str, ...]) -> str | None:
    """The column whose values are unique, else ``row_id: hash``."""
    candidates = [c for c in plan.cols.values() if c.name not in used and c.unique and c.idlike and not _named(c.name, CUSTOMER_WORDS)]
    if candidates:
        chosen = max(candidates, key=lambda c: (_named(c.name, hints), _is_id_name(c.name), -list(plan.cols).index(c.name)))
        plan.columns[chosen.name] = Note(canonical, notes.guess(plan.name, canonical, chosen.name, f"{chosen.distinct:,} distinct values in {chosen.rows:,} rows"))
        used.add(chosen.name)
        return chosen.name
    plan.tree["row_id"] = Note("hash", notes.guess(plan.name, "row_id", "hash", "no column has a distinct value on every row: the id is a hash of the row"))
    return None


def _low_card_named(plan: Plan, used: set[str], stems: tuple[str, ...], high: int = 20) -> Col | None:
    found = [c for c in plan.cols.values() if c.name not in used and c.low_card(high) and _named(c.name, stems) and c.numeric_share < 0.5]
    return found[0] if found else None


TEXT_WORDS = ("comment", "comments", "feedback", "text", "remark", "review", "body", "message", "why", "reason", "verbatim",
              "комментар", "отзыв", "текст", "причин")


def _free_text(plan: Plan, used: set[str]) -> Col | None:
    """The longest free text; else a column of words named like one (short, repeated comments),
    else the longest column of sentences, however repetitive."""
    unused = [c for c in plan.cols.values() if c.name not in used and c.stamp is None and c.numeric_share < 0.5]
    found = [c for c in unused if c.free_text]
    found = found or [c for c in unused if _named(c.name, TEXT_WORDS) and c.spaced >= 0.3 and c.mean_length >= 5]
    found = found or [c for c in unused if c.wordy and c.mean_length >= 20]
    return max(found, key=lambda c: c.mean_length) if found else None


SCORE_WORDS = ("score", "value", "answer", "response", "rating", "grade", "mark", "оценк", "ответ", "значен", "балл")
QUESTION_WORDS = ("question", "item", "q", "metric", "field", "attribute", "вопрос", "показател")
CHANNEL_WORDS = ("channel", "source", "platform", "device", "medium", "touchpoint", "канал", "источник", "платформ")
CHANNEL_VALUES = ("web", "site", "app", "mobile", "ios", "android", "store", "shop", "email", "phone", "call", "sms", "online",
                  "offline", "desktop", "marketplace", "сайт", "приложени", "магазин", "телефон")


def _plan_surveys(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    _timestamp(plan, notes, "answered_at", used)
    question = _long_question_column(plan, used)
    if question is not None:
        _long_survey(plan, notes, question, used)
    else:
        _wide_survey(plan, notes, used)
    _customer(plan, notes, used, required=False)
    comment = _free_text(plan, used)
    if comment is not None:
        plan.columns[comment.name] = Note("comment", notes.guess("surveys", "comment", comment.name,
                                                                 f"the longest free text: {comment.mean_length:.0f} characters on average"))
        used.add(comment.name)
        plan.comment = True
        plan.texts.append(comment.texts)
    channel = _low_card_named(plan, used, CHANNEL_WORDS)
    if channel is not None:
        plan.columns[channel.name] = Note("channel", f"{channel.distinct} values: {', '.join(map(str, channel.texts.value_counts().index[:6]))}")
        used.add(channel.name)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


def _long_question_column(plan: Plan, used: set[str]) -> Col | None:
    """A column naming the question of each row: few distinct values, repeated."""
    for col in plan.cols.values():
        if col.name in used or col.stamp is not None or not (2 <= col.distinct <= 100) or col.distinct > 0.2 * col.filled:
            continue
        if col.numeric_share >= 0.5:
            continue
        values = col.texts.drop_duplicates()
        questiony = (values.str.endswith("?") | values.str.match(r"^[qQ][_\-]?\d|^q_")).mean() >= 0.5
        if _named(col.name, QUESTION_WORDS) or questiony:
            return col
    return None


def _long_survey(plan: Plan, notes: Notes, question: Col, used: set[str]) -> None:
    """One row per answer: a question column, a value column, a response id repeated per answer."""
    used.add(question.name)
    frame = plan.sample.frame
    values = [c for c in plan.cols.values() if c.name not in used and c.stamp is None and c.numeric_share >= 0.3 and not _is_id_name(c.name)]
    named_values = [c for c in values if _named(c.name, SCORE_WORDS)]
    value = (named_values or sorted(values, key=lambda c: -c.numeric_share) or [None])[0]
    if value is None:
        plan.columns[question.name] = Note("question", f"{question.distinct} questions, repeated on {question.filled:,} rows")
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.surveys.columns", "no column holds the answers' scores: map yours (`your_column: score`)"))] = None
        return
    used.add(value.name)
    response = _response_column(plan, question, used)
    if response is not None and not plan.cols[response].unique:
        plan.tree["layout"] = Note("long", notes.guess("surveys", "layout", "long",
                                                       f"{response!r} repeats on {plan.cols[response].filled / plan.cols[response].distinct:.1f} rows per response, one per {question.name!r}"))
        plan.columns[response] = Note("response_id", f"{plan.cols[response].distinct:,} responses")
        plan.units = frame[response]
        used.add(response)
    elif response is not None:
        plan.columns[response] = Note("response_id", f"{plan.cols[response].distinct:,} distinct values in {plan.cols[response].rows:,} rows")
        used.add(response)
    else:
        plan.tree["row_id"] = Note("hash", notes.guess("surveys", "row_id", "hash", "no response id column: the id is a hash of the row"))
    plan.columns[question.name] = Note("question", notes.guess("surveys", "question", question.name,
                                                               f"{question.distinct} questions, repeated on {question.filled:,} rows"))
    plan.columns[value.name] = Note("score", f"the answers: {value.numeric_share:.0%} numbers")
    taken: set[str] = set()
    mapping, text_items = {}, []
    scores = frame[value.name]
    asked = frame[question.name].astype(str).str.strip()
    for label, count in asked[frame[question.name].notna()].value_counts().items():
        rows = scores[asked == label]
        texts = rows.dropna().astype(str).str.strip()
        numbers = _numbers(texts)
        qid = label if re.fullmatch(r"[a-z][a-z0-9_]*", label) else _unique_id(_slug(label, "q_"), taken)
        taken.add(qid)
        if qid != label:
            mapping[label] = qid
        if len(texts) and len(numbers) < 0.5 * len(texts):
            text_items.append(Note(qid, f"{_quote(label)}: {1 - len(numbers) / len(texts):.0%} of {len(texts):,} answers are text"))
            plan.texts.append(texts[_numbers(texts, keep=False)])
            continue
        if not len(numbers):
            continue
        plan.questions.append(Question(qid, label, float(numbers.min()), float(numbers.max()), int(len(numbers))))
    if mapping:
        plan.tree["values"] = Note({"question": mapping}, "the questions as they are exported -> question ids of stages.yaml")
    if text_items:
        notes.guess("surveys", "text_questions", ", ".join(str(n.value) for n in text_items), "items answered in words, not scores")
        plan.tree["text_questions"] = Note(text_items, "their answers become the response's comment")


def _numbers(texts: pd.Series, keep: bool = True) -> pd.Series:
    """The values of ``texts`` that are numbers (``keep=False``: a mask of the ones that are not)."""
    import pandas as pd

    numbers = pd.to_numeric(texts, errors="coerce")
    return numbers.dropna() if keep else numbers.isna()


def _response_column(plan: Plan, question: Col, used: set[str]) -> str | None:
    """The response id: unique per (response, question), named like one where several are."""
    frame = plan.sample.frame
    found = []
    for col in plan.cols.values():
        if col.name in used or not col.idlike or col.filled < 0.95 * col.rows:
            continue
        pairs = frame[[col.name, question.name]].dropna()
        if pairs.duplicated().mean() > 0.05:
            continue
        found.append(col)
    if not found:
        return None
    named = ("response", "submission", "answer", "survey", "form", "ответ", "анкет")
    chosen = max(found, key=lambda c: (_named(c.name, named), not _named(c.name, CUSTOMER_WORDS), _is_id_name(c.name), c.unique))
    return chosen.name


def _wide_survey(plan: Plan, notes: Notes, used: set[str]) -> None:
    """One row per response, a column per question: melted into one row per answer."""
    _record_id(plan, notes, "response_id", used, ("response", "submission", "answer", "survey", "form", "ответ", "анкет"))
    scored = [c for c in plan.cols.values() if c.name not in used and c.small_scale() and not _named(c.name, CUSTOMER_WORDS)
              and not _named(c.name, NOT_SCORE_WORDS)]
    if not scored:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.surveys.columns",
                                        "no question or score column found: map yours (question and score, or melt a column per question)"))] = None
        return
    taken: set[str] = set()
    melted = {}
    for col in scored:
        qid = _unique_id(_slug(col.name, "q_"), taken)
        melted[col.name] = Note(qid, f"values {col.numbers.min():g}..{col.numbers.max():g} in {len(col.numbers):,} answers")
        plan.questions.append(Question(qid, col.name, float(col.numbers.min()), float(col.numbers.max()), len(col.numbers)))
        used.add(col.name)
    plan.units = None
    notes.guess("surveys", "melt", f"{len(scored)} question column(s)", f"{', '.join(c.name for c in scored[:6])}: whole numbers in 0..10")
    plan.tree["melt"] = Note({"variable": "question", "value": "score", "columns": Note(melted, "your column: question id")},
                             "one row per response, a column per question: one row per answer")


def _plan_reviews(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    _timestamp(plan, notes, "published_at", used)
    text = _free_text(plan, used)
    if text is None:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.reviews.columns", "no free-text column found: map the review text (`your_column: text`)"))] = None
    else:
        plan.columns[text.name] = Note("text", notes.guess("reviews", "text", text.name, f"the longest free text: {text.mean_length:.0f} characters on average"))
        used.add(text.name)
        plan.texts.append(text.texts)
    rating_words = ("rating", "stars", "star", "score", "grade", "mark", "оценк", "рейтинг", "звезд")
    ratings = [c for c in plan.cols.values() if c.name not in used and c.numeric and c.stamp is None and c.numbers.min() >= 0
               and (_named(c.name, rating_words) or (c.small_scale() and not _named(c.name, NOT_SCORE_WORDS + CUSTOMER_WORDS)))]
    if not ratings:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.reviews.columns", "no rating column found: map yours (`your_column: rating`)"))] = None
    else:
        rating = max(ratings, key=lambda c: (_named(c.name, rating_words), c.small_scale()))
        used.add(rating.name)
        _rating_scale(plan, notes, rating)
    _record_id(plan, notes, "review_id", used, ("review", "отзыв"))
    _customer(plan, notes, used, required=False)
    source = _low_card_named(plan, used, ("source", "platform", "site", "channel", "marketplace", "store", "площадк", "источник"))
    if source is not None:
        plan.columns[source.name] = Note("source", f"{source.distinct} values: {', '.join(map(str, source.texts.value_counts().index[:6]))}")
        used.add(source.name)
    language = _low_card_named(plan, used, ("lang", "language", "locale", "язык"), high=30)
    if language is not None:
        plan.columns[language.name] = Note("language", f"{language.distinct} values")
        used.add(language.name)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


def _rating_scale(plan: Plan, notes: Notes, rating: Col) -> None:
    low, high = float(rating.numbers.min()), float(rating.numbers.max())
    seen = f"values {low:g}..{high:g} in {len(rating.numbers):,} reviews"
    if high <= 5 and low >= 1:
        plan.columns[rating.name] = Note("rating", notes.guess("reviews", "rating", rating.name, f"{seen}: the default 1-5 scale"))
        return
    plan.columns[rating.name] = Note("rating", notes.guess("reviews", "rating", rating.name, seen))
    if high <= 10:
        scale = [0 if low == 0 else 1, 5 if high <= 5 else 10]
        plan.tree["scales"] = Note({"rating": scale}, notes.guess("reviews", "scales", scale, f"{seen}: read onto 1-5 for the maps"), flow=True)
        return
    plan.tree["scales"] = Note({"rating": [0 if low == 0 else 1, math.ceil(high)]},
                               notes.todo("cjm.yaml", "sources.reviews.scales", f"{seen}: no usual scale; check the range"), flow=True)


def _plan_sales(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    _timestamp(plan, notes, "occurred_at", used)
    order = _order_column(plan, used)
    event_id = _record_id(plan, notes, "event_id", used, ("event", "событ"))
    if order is not None:
        if event_id == order.name:
            plan.columns[order.name] = Note(["event_id", "order_id"], f"{order.distinct:,} distinct values in {order.rows:,} rows; named like an order", flow=True)
        else:
            plan.columns[order.name] = Note("order_id", f"named like an order; {order.distinct:,} orders")
            used.add(order.name)
    _customer(plan, notes, used, required=True)
    _event_column(plan, notes, used)
    _amount(plan, notes, used)
    channel = _low_card_named(plan, used, CHANNEL_WORDS)
    if channel is None:
        by_values = [c for c in plan.cols.values() if c.name not in used and c.low_card() and c.numeric_share < 0.5
                     and c.texts.drop_duplicates().map(lambda v: _match(_words(v), CHANNEL_VALUES) is not None).mean() >= 0.5]
        channel = by_values[0] if by_values else None
    if channel is not None:
        top = ", ".join(map(str, channel.texts.value_counts().index[:6]))
        plan.columns[channel.name] = Note("channel", notes.guess("sales", "channel", channel.name, f"{channel.distinct} values: {top}"))
        used.add(channel.name)
    else:
        plan.tree["constants"] = Note({"channel": "unknown"}, notes.todo("cjm.yaml", "sources.sales.constants",
                                                                         "no channel column found: every event is on channel 'unknown'; map yours (`your_column: channel`) or name the one channel"),
                                      flow=True)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


def _order_column(plan: Plan, used: set[str]) -> Col | None:
    found = [c for c in plan.cols.values() if c.name not in used and c.idlike and _named(c.name, ("order", "заказ")) and c.distinct >= 2
             and not c.small_scale() and (_is_id_name(c.name) or c.distinct >= 0.1 * c.filled)]
    return found[0] if found else None


def _event_column(plan: Plan, notes: Notes, used: set[str]) -> None:
    strong = ("event", "action", "activity", "what", "step", "событ", "действ")
    weak = ("type", "name", "status", "kind", "тип", "статус")
    best, best_score = None, 0.0
    for col in plan.cols.values():
        if col.name in used or not col.low_card(60) or col.numeric_share >= 0.5:
            continue
        values = col.texts.drop_duplicates()
        worded = float(values.map(lambda v: stage_of(v) is not None).mean())
        named = 2 if _named(col.name, strong) else 1 if _named(col.name, weak) else 0
        # A name as loose as "type" or "status" needs some event-like values too.
        if (named == 2 or (named == 1 and worded >= 0.3) or worded >= 0.5) and named + worded > best_score:
            best, best_score = col, named + worded
    if best is None:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.sales.columns", "no event name column found: map yours (`your_column: event_type`)"))] = None
        return
    plan.events = {str(k): int(v) for k, v in best.texts.value_counts().items()}
    plan.columns[best.name] = Note("event_type", notes.guess("sales", "event_type", best.name,
                                                             f"{best.distinct} event names on {best.filled:,} rows (listed in stages.yaml)"))
    used.add(best.name)


def _amount(plan: Plan, notes: Notes, used: set[str]) -> None:
    words = ("amount", "value", "price", "revenue", "total", "sum", "cost", "paid", "gmv", "сумм", "стоимост", "цен", "выручк")
    for col in plan.cols.values():
        if col.name in used or col.stamp is not None or not _named(col.name, words):
            continue
        if col.numeric and col.numbers.min() >= 0:
            plan.amount_max = float(col.numbers.max())
            plan.columns[col.name] = Note("amount", notes.guess("sales", "amount", col.name,
                                                                f"numbers {col.numbers.min():,.2f}..{col.numbers.max():,.2f} on {len(col.numbers):,} rows"))
            used.add(col.name)
            return
        comma = _numbers(col.texts.str.replace(",", ".", regex=False))
        if col.filled and len(comma) >= 0.9 * col.filled:
            plan.columns[col.name] = Note("amount", notes.todo("cjm.yaml", "sources.sales.columns",
                                                               f"{col.name!r} writes decimals with a comma (e.g. {col.texts.iloc[0]}), which is not read as a number: export with a decimal point"))
            used.add(col.name)
            return


def _plan_customers(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    named = [c for c in plan.cols.values() if c.idlike and _customer_named(c)]
    shared = _shared_ids(plan, used)
    unique = [c for c in plan.cols.values() if c.idlike and c.unique]
    chosen = (named or ([shared[0]] if shared else []) or unique or [None])[0]
    if chosen is None:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.customers.columns", "no customer id column found: map yours (`your_column: customer_id`)"))] = None
    else:
        repeated = 1 - chosen.distinct / max(chosen.filled, 1)
        why = f"{chosen.distinct:,} customers" + (f"; {repeated:.0%} of rows repeat a customer" if repeated else ", one row each")
        plan.columns[chosen.name] = Note("customer_id", notes.guess("customers", "customer_id", chosen.name, why))
        plan.customer = chosen.name
        used.add(chosen.name)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


SCHEMA_NAMES = {"response_id", "customer_id", "answered_at", "question", "stage", "metric", "score", "comment", "channel", "review_id",
                "published_at", "rating", "text", "source", "language", "event_id", "occurred_at", "event_type", "amount", "order_id"}


def _attributes(plan: Plan, notes: Notes, used: set[str]) -> None:
    """Categorical columns constant per customer: customer attributes for the persona rules."""
    if plan.customer is None:
        return
    frame = plan.sample.frame
    found = {}
    for col in plan.cols.values():
        if col.name in used or not col.low_card() or col.mean_length > 30:
            continue
        per_customer = frame[[plan.customer, col.name]].dropna().groupby(plan.customer)[col.name].nunique()
        if not len(per_customer) or (per_customer <= 1).mean() < 0.98:
            continue
        repeated = int((frame[plan.customer].value_counts() > 1).sum())
        canonical = _slug(col.name) or f"attribute_{len(found) + 1}"
        if canonical in SCHEMA_NAMES or canonical in found:
            canonical = f"customer_{canonical}"
        found[canonical] = col.name
        if canonical != col.name:
            plan.columns[col.name] = Note(canonical, "a customer attribute")
        used.add(col.name)
        agree = f"; the {repeated:,} customers with several rows keep one value" if repeated else ""
        notes.guess(plan.name, "attribute", canonical, f"{col.distinct} values{agree}")
    plan.attributes = found
    if found:
        plan.tree["attributes"] = Note(list(found), "categorical columns with one value per customer: fields for personas.yaml", flow=True)


# --------------------------------------------------------------------------- the documents


def _documents(plans: dict[str, Plan], out: Path, notes: Notes) -> dict[str, str]:
    """The text of every file to write, keyed by file name."""
    scales = _assign_metrics(plans, notes)
    stages_doc, rates = _stages(plans, notes)
    personas_doc = _personas(plans, notes)
    docs = {
        "cjm.yaml": _dump(_main(plans, scales, out, notes)),
        "stages.yaml": _dump(stages_doc),
        "personas.yaml": _dump(personas_doc),
        "expectations.yaml": _dump(_expectations(plans, notes)),
        "barriers.yaml": _catalog_copy(rates),
        "barrier_examples.yaml": (BUNDLED / "barrier_examples.yaml").read_text(encoding="utf-8"),
    }
    return docs


def _assign_metrics(plans: dict[str, Plan], notes: Notes) -> dict[str, Any]:
    """Each survey question's metric by its observed range; unusual ranges get a scale of their own."""
    scales: dict[str, Any] = {k: Note(list(v), flow=True) for k, v in BUNDLED_SCALES.items()}
    plan = plans.get("surveys")
    for q in plan.questions if plan else []:
        if q.low >= 1 and q.high <= 5:
            q.metric = "csat"
        elif q.low >= 1 and q.high <= 7:
            q.metric = "ces"
        elif q.low >= 0 and 8 <= q.high <= 10:
            q.metric = "nps"
        else:
            q.metric = f"scale_{q.low:g}_{q.high:g}".replace(".", "_").replace("-", "m")
            if q.metric not in scales:
                scales[q.metric] = Note([q.low, q.high], notes.todo("cjm.yaml", f"metrics.scales.{q.metric}",
                                                                    f"values {q.low:g}..{q.high:g} fit no usual scale (csat 1-5, ces 1-7, nps 0-10): check the scale and name the metric"),
                                        flow=True)
        notes.guess("surveys", "metric", f"{q.id}: {q.metric}", f"values {q.low:g}..{q.high:g} in {q.answers:,} answers")
    return scales


def _main(plans: dict[str, Plan], scales: dict[str, Any], out: Path, notes: Notes) -> dict:
    texts = [t for plan in plans.values() for t in plan.texts]
    language, why = _language(texts)
    notes.guess("project", "language", language, why)
    first = sorted(q for p in plans.values() for q in p.quarters)
    tree = {
        Comment("Written by `cjm init` from samples of your files: every guess says what it rests on, and"): None,
        Comment("comments starting with TODO mark what it could not guess (one each). Check them, then run"): None,
        Comment(f"  cjm --config {out / 'cjm.yaml'} config check --period {first[0] if first else '<quarter>'}"): None,
        Comment("Relative paths resolve against this file's folder; ${VAR} and ${VAR:-default} read the environment."): None,
        "project": {
            "name": Note("Customer journey maps", "shown on the published reports"),
            "language": Note(language, why),
            "timezone": Note("UTC", "assumed: quarters are cut, and timestamps without an offset read, in this zone (e.g. Europe/Moscow)"),
        },
        "files": {
            "stages": "stages.yaml",
            "personas": "personas.yaml",
            "barriers": Note("barriers.yaml", "a copy of the bundled catalog"),
            "expectations": "expectations.yaml",
            "examples": Note("barrier_examples.yaml", "more example complaints for the catalog (docs/barriers.md, \"Matching\")"),
        },
        "sources": {name: plans[name].tree for name in SOURCES if name in plans},
        "storage": {
            Comment("folders (or s3:// prefixes) for the run workspace, the version store and the published site"): None,
            "work": "build/work",
            "versions": "build/store",
            "site": "build/site",
        },
        "metrics": {"scales": Note(scales, "survey metrics and their scales (csat, nps, ces: the bundled ones)")},
    }
    return tree


def _language(texts: list[pd.Series]) -> tuple[str, str]:
    sample = " ".join(" ".join(t.head(2000).astype(str)) for t in texts)
    cyrillic = len(re.findall(r"[а-яёА-ЯЁ]", sample))
    latin = len(re.findall(r"[a-zA-Z]", sample))
    if not cyrillic + latin:
        return "en", "no free text in the samples: reports in English"
    share = cyrillic / (cyrillic + latin)
    if share > 0.5:
        return "ru", f"{share:.0%} of the letters of the sampled texts are Cyrillic"
    return "en", f"{1 - share:.0%} of the letters of the sampled texts are Latin"


def _stages(plans: dict[str, Plan], notes: Notes) -> tuple[dict, dict[str, set[str]]]:
    """stages.yaml: the bundled stage ids and names, holding the events and questions found."""
    bundled = yaml.safe_load((BUNDLED / "stages.yaml").read_text(encoding="utf-8"))["stages"]
    events = plans["sales"].events if "sales" in plans else {}
    questions = plans["surveys"].questions if "surveys" in plans else []
    placed_events: dict[str, list] = {s["id"]: [] for s in bundled}
    placed_questions: dict[str, dict] = {s["id"]: {} for s in bundled}
    for event, count in events.items():
        hit = stage_of(event)
        if hit:
            placed_events[hit[0]].append(Note(event, f"{hit[1]!r} -> {hit[0]}; {count:,} rows"))
        else:
            placed_events["purchase"].append(Note(event, notes.todo("stages.yaml", "stages[purchase].events",
                                                                    f"event {event!r} ({count:,} rows) matched no stage word: placed in purchase")))
    for q in questions:
        hit = stage_of(q.id, q.label)
        seen = f"values {q.low:g}..{q.high:g} -> {q.metric}"
        if hit:
            placed_questions[hit[0]][q.id] = Note(q.metric, f"{seen}; {hit[1]!r} -> {hit[0]}")
        else:
            placed_questions["purchase"][q.id] = Note(q.metric, notes.todo("stages.yaml", f"stages[purchase].questions.{q.id}",
                                                                           f"question {_quote(q.label)} matched no stage word: placed in purchase ({seen})"))
    rates = _rates(list(events), notes)
    bundled_rates = {r for s in bundled for r in s.get("rates", {})}
    out_stages = []
    for stage in bundled:
        sid = stage["id"]
        empty = not placed_events[sid] and not placed_questions[sid]
        item: dict = {"id": Note(sid, "none of your events or questions placed here: kept, the barrier catalog refers to this stage" if empty else ""),
                      "names": Note(stage["names"], flow=True)}
        if "goal" in stage:
            item["goal"] = Note(stage["goal"], flow=True)
        if placed_events[sid]:
            item["events"] = placed_events[sid]
        if placed_questions[sid]:
            item["questions"] = placed_questions[sid]
        if rates.get(sid):
            item["rates"] = rates[sid]
        ideal = {k: v for k, v in stage.get("ideal", {}).items() if k not in bundled_rates or k in rates.get(sid, {})}
        if ideal:
            item["ideal"] = Note(ideal, "the bundled journey's targets", flow=True)
        for key in ("next", "loops_to"):
            if key in stage:
                item[key] = Note(stage[key], flow=True)
        out_stages.append(item)
    tree = {
        Comment("The journey, written by `cjm init`: the bundled stages (the barrier catalog refers to their ids)"): None,
        Comment("holding your sales events and survey questions, placed by the words in their names."): None,
        Comment("`next` is the stage whose reach counts as conversion; `loops_to` records loops on the map."): None,
        "stages": out_stages,
    }
    if "sales" in plans:
        tree.update(_orders(plans["sales"], notes))
    return tree, {sid: set(r) for sid, r in rates.items()}


def _orders(sales: Plan, notes: Notes) -> dict:
    orders = [e for e in sales.events if _match(_words(e), ORDER_WORDS) and not _match(_words(e), NOT_ORDER_WORDS)]
    if not orders:
        if not sales.events:
            return {}
        return {Comment(notes.todo("stages.yaml", "orders", "no event name looks like an order (order, purchase, buy): "
                                   "list the events that are orders as `orders: {events: [...]}` for order_count and avg_order_value")): None}
    value = "the sales source's amount column" if sales.amount_max is not None else "no amount column was found: order values stay empty"
    notes.guess("sales", "orders", ", ".join(orders), "event names with order, purchase or buy (cancellations, failures, deliveries left out)")
    return {"orders": Note({"events": orders, "value": "amount"}, f"events that are orders (for order_count, avg_order_value); value: {value}", flow=True)}


# Rates of the bundled metric rules, by the words of their numerator and denominator events.
RATES = (
    ("cancellation_rate", "purchase", ("cancel", "отмен"), ORDER_WORDS),
    ("failed_payment_rate", "purchase", ("fail", "failed", "declin", "reject", "отказ"), ("checkout", "оформлен")),
    ("late_delivery_rate", "purchase", ("late", "delay", "опозд", "задерж"), ("deliver", "доставк", "доставл")),
    ("return_rate", "experience", ("return", "refund", "возврат"), ("deliver", "доставк", "доставл")),
)


def _rates(events: list[str], notes: Notes) -> dict[str, dict]:
    """The bundled rates whose numerator and denominator events exist (by the bundled names, else
    by words), keyed by the stage the bundled metric rules look for them in."""
    bundled = {r: (s["id"], spec) for s in yaml.safe_load((BUNDLED / "stages.yaml").read_text(encoding="utf-8"))["stages"]
               for r, spec in s.get("rates", {}).items()}
    out: dict[str, dict] = {}
    order_events = [e for e in events if _match(_words(e), ORDER_WORDS) and not _match(_words(e), NOT_ORDER_WORDS + LOYALTY_ORDER_WORDS)]
    for rate, stage, numerator_words, denominator_words in RATES:
        spec = bundled.get(rate, (stage, {}))[1]
        why = "the bundled definition: both events are in the sample"
        if spec and spec["numerator"] in events and spec["denominator"] in events:
            numerator, denominator = spec["numerator"], spec["denominator"]
        else:
            why = "by the words of the event names"
            numerator = next((e for e in events if _match(_words(e), numerator_words) and
                              (rate != "failed_payment_rate" or _match(_words(e), ("pay", "payment", "paid", "оплат")))), None)
            pool = order_events if rate == "cancellation_rate" else [e for e in events if _match(_words(e), denominator_words)]
            pool = [e for e in pool if e != numerator and not _match(_words(e), ("cancel", "fail", "failed", "late", "delay", "return", "refund"))]
            denominator = pool[0] if pool else (order_events[0] if rate in ("failed_payment_rate", "return_rate") and order_events else None)
            if numerator is None or denominator is None or numerator == denominator:
                continue
        out.setdefault(stage, {})[rate] = Note({"numerator": numerator, "denominator": denominator},
                                               notes.guess("sales", rate, f"{numerator} / {denominator}", why), flow=True)
    return out


def _personas(plans: dict[str, Plan], notes: Notes) -> dict:
    """personas.yaml: one persona per value of the attribute that splits customers most evenly."""
    best = None
    for plan in _attribute_plans(plans):
        frame = plan.sample.frame
        for canonical, column in plan.attributes.items():
            per_customer = frame[[plan.customer, column]].dropna().drop_duplicates(plan.customer)[column]
            counts = per_customer.value_counts()
            if not 2 <= len(counts) <= 6:
                continue
            shares = counts / counts.sum()
            evenness = float(-(shares * shares.map(math.log)).sum() / math.log(len(counts)))
            if best is None or evenness > best[0]:
                best = (evenness, canonical, counts, plan.name)
    header = {
        Comment("Personas, written by `cjm init`: declarative rules over customer attributes and features derived"): None,
        Comment("from the quarter's sales (order_count, avg_order_value, main_channel, event_count, ...)."): None,
        Comment("membership: first -> a customer belongs to the first persona whose rule matches."): None,
        "membership": "first",
    }
    if best is None:
        return {**header, "personas": [_everyone(plans, notes)]}
    evenness, canonical, counts, source = best
    total = int(counts.sum())
    notes.guess("personas", "split by", canonical, f"{len(counts)} values over {total:,} customers of {source}, {evenness:.0%} even")
    taken: set[str] = {"all"}
    personas = []
    for value, count in counts.items():
        value = value.item() if hasattr(value, "item") else value
        slug = _slug(str(value))
        pid = _unique_id(slug if slug not in ("", "all") and not slug.isdigit() else _slug(f"{canonical}_{value}"), taken)
        personas.append({
            "id": pid,
            "name": f"{canonical.replace('_', ' ').capitalize()}: {value}",
            "description": f"Customers whose {canonical} is {value} ({count:,} of {total:,} customers in the sample of {source}).",
            "rule": Note({"field": canonical, "op": "eq", "value": value}, flow=True),
        })
    note = f"one persona per value of {canonical!r}: the most even split of the customer attributes found ({evenness:.0%})"
    return {**header, "personas": Note(personas, note)}


def _attribute_plans(plans: dict[str, Plan]) -> list[Plan]:
    if "customers" in plans:
        return [plans["customers"]]
    return [p for p in plans.values() if p.attributes]


def _everyone(plans: dict[str, Plan], notes: Notes) -> dict:
    """One persona for every customer, on a field the configuration has."""
    message = ("no categorical customer attribute (2 to 6 values) found: this persona takes every customer; "
               "add attributes (a customers file, or `attributes:` on a source) and split it")
    rule = {"field": "customer_key", "op": "is_null", "value": False}
    holder = next((p for p in plans.values() if p.customer is not None), None)
    if "sales" in plans:
        rule = {"field": "event_count", "op": "ge", "value": 0}
    elif holder is not None:
        # No attribute and no sales: the customer id, read once more as an attribute, is a
        # field every customer has.
        current = holder.columns[holder.customer]
        holder.columns[holder.customer] = Note(["customer_id", "customer_key"], current.comment, flow=True)
        holder.tree["attributes"] = Note(["customer_key"], "the customer id again, for the one persona", flow=True)
    else:
        message = ("no source has a customer id, so no persona can be told apart and this rule names no field the "
                   "configuration has: map a customer id and an attribute, then rewrite it")
    return {
        "id": "everyone",
        "name": "Every customer",
        "description": "All customers: a placeholder until the attributes that tell your personas apart are mapped.",
        "rule": Note(rule, notes.todo("personas.yaml", "personas[0]", message), flow=True),
    }


def _expectations(plans: dict[str, Plan], notes: Notes) -> dict:
    tree: dict = {
        Comment("The validation gate, written by `cjm init` (check kinds as in the bundled configs/expectations.yaml):"): None,
        Comment("min_rows stops a quarter too thin to map: about a tenth of the rows a quarter seen in the sample."): None,
    }
    for name in SOURCES:
        if name not in plans:
            continue
        plan = plans[name]
        per_quarter, why = _per_quarter(plan)
        section: dict = {"min_rows": Note(max(10, round(per_quarter / 10)), why)}
        section["mostly"] = Note(dict(MOSTLY) if name != "customers" else {"not_null": 1.0, "unique": 1.0}, flow=True)
        extra = []
        if name == "surveys" and plan.comment:
            extra.append({"expectation": "expect_column_value_lengths_to_be_between", "kwargs": Note({"column": "comment", "max_value": 4000}, flow=True)})
        if name == "sales" and plan.amount_max is not None:
            ceiling = 10 ** math.ceil(math.log10(max(plan.amount_max, 1) * 10))
            extra.append({"expectation": "expect_column_values_to_be_between",
                          "kwargs": Note({"column": "amount", "min_value": 0, "max_value": ceiling},
                                         f"the sample's largest amount is {plan.amount_max:,.2f}: far more is a unit or parsing error", flow=True)})
        if name == "customers" and plan.customer is not None:
            col = plan.cols[plan.customer]
            if col.distinct < col.filled:
                section["mostly"] = Note(section["mostly"].value, notes.todo(
                    "expectations.yaml", "customers.mostly.unique",
                    f"{col.filled - col.distinct:,} of {col.filled:,} sampled rows repeat a customer id: dedupe the export or lower mostly.unique"), flow=True)
        if extra:
            section["extra"] = extra
        tree[name] = section
    return tree


def _per_quarter(plan: Plan) -> tuple[int, str]:
    """Rows (responses for a melted or long survey) a quarter in the sample, and how it was told."""
    frame = plan.sample.frame
    unit = "responses" if plan.name == "surveys" and (plan.units is not None or "melt" in plan.tree) else "rows"
    keys = plan.units if plan.units is not None else frame.index.to_series()
    cut = " at least (the sample was cut)" if plan.sample.truncated else ""
    if plan.when is None or plan.when.notna().sum() == 0 or plan.period:
        count = int(keys.nunique())
        return count, f"a tenth of the {count:,} {unit} of the sample{cut}"
    naive = plan.when.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("Q")
    counts = keys.groupby(naive.to_numpy()).nunique()
    counts = counts[counts > 0]
    median = int(counts.median())
    return median, f"a tenth of the {median:,} {unit} a quarter in the sample (median of {len(counts)} quarters){cut}"


def _catalog_copy(rates: dict[str, set[str]]) -> str:
    """The bundled barriers.yaml, less the metric rules on rates this journey does not have."""
    text = (BUNDLED / "barriers.yaml").read_text(encoding="utf-8")
    bundled_rates = {r for s in yaml.safe_load((BUNDLED / "stages.yaml").read_text(encoding="utf-8"))["stages"] for r in s.get("rates", {})}
    lines = text.split("\n")
    start = lines.index("metric_rules:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#")))
    while lines[end - 1].startswith("#") or not lines[end - 1].strip():
        end -= 1  # the comment above the next key belongs to it
    blocks: list[list[str]] = []
    for line in lines[start + 1:end]:
        if line.startswith("  - "):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    kept, dropped = [], []
    for block in blocks:
        fields = dict(re.match(r"\s*-?\s*(\w+): (.*)$", ln).groups() for ln in block if re.match(r"\s*-?\s*(id|stage|metric): ", ln))
        if fields.get("metric") in bundled_rates and fields.get("metric") not in rates.get(fields.get("stage", ""), set()):
            dropped.append(f"{fields['id']} ({fields['metric']})")
        else:
            kept.extend(block)
    note = []
    if dropped:
        note = [f"# `cjm init` left out {', '.join(dropped)}:",
                "# stages.yaml has no such rate, since the sales sample showed no events for it. Add the rate to",
                "# its stage, then the rule from configs/barriers.yaml."]
    header = ["# A copy of the bundled barrier catalog (configs/barriers.yaml), written by `cjm init`: edit it freely."]
    return "\n".join(header + lines[:start + 1] + note + kept + lines[end:])


# --------------------------------------------------------------------------- YAML with comments


class Comment:
    """A comment line of its own: a key of a mapping (its value is ignored) or an item of a list."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


@dataclass
class Note:
    """A value with a comment at the end of its line; ``flow`` writes a mapping or list on one line."""

    value: Any
    comment: str = ""
    flow: bool = False


def plain(node: Any) -> Any:
    """``node`` without its comments: what ``yaml.safe_load`` reads back from :func:`_dump`."""
    if isinstance(node, Note):
        return plain(node.value)
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if not isinstance(k, Comment)}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node if not isinstance(v, Comment)]
    if hasattr(node, "item") and not isinstance(node, (str, bytes)):
        return node.item()
    return node


def _dump(tree: dict) -> str:
    rows: list[tuple[str, str]] = []
    _emit_map(tree, 0, rows)
    text = _align(rows)
    if yaml.safe_load(text) != plain(tree):  # pragma: no cover - a bug of this writer, not of the input
        raise RuntimeError("cjm init wrote YAML that does not read back as written")
    return text


def _flow(value: Any) -> str:
    if isinstance(value, str) and any(not c.isprintable() for c in value):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=1_000_000).strip()
    return text[:-3].rstrip() if text.endswith("\n...") else text


def _comment_rows(node: Any, indent: int) -> list[tuple[str, str]]:
    return [(" " * indent + "# " + _comment(line), "") for line in node.text.split("\n")]


def _emit_map(mapping: dict, indent: int, rows: list[tuple[str, str]]) -> None:
    for key, value in mapping.items():
        if isinstance(key, Comment):
            rows.extend(_comment_rows(key, indent))
            continue
        _emit_value(f"{' ' * indent}{_flow(key)}:", value if isinstance(value, Note) else Note(value), indent, rows)


def _emit_value(head: str, note: Note, indent: int, rows: list[tuple[str, str]]) -> None:
    value = note.value
    if isinstance(value, dict) and not note.flow and any(not isinstance(k, Comment) for k in value):
        rows.append((head, note.comment))
        _emit_map(value, indent + 2, rows)
    elif isinstance(value, list) and not note.flow and any(not isinstance(v, Comment) for v in value):
        rows.append((head, note.comment))
        _emit_list(value, indent + 2, rows)
    else:
        rows.append((f"{head} {_flow(plain(value))}", note.comment))
        inner = list(value) if isinstance(value, (dict, list)) else []
        rows.extend(r for c in inner if isinstance(c, Comment) for r in _comment_rows(c, indent + 2))


def _emit_list(items: list, indent: int, rows: list[tuple[str, str]]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Comment):
            rows.extend(_comment_rows(item, indent))
            continue
        note = item if isinstance(item, Note) else Note(item)
        if isinstance(note.value, dict) and not note.flow and note.value:
            if note.comment:
                rows.append((f"{pad}# {_comment(note.comment)}", ""))
            start = len(rows)
            _emit_map(note.value, indent + 2, rows)
            first = next(i for i in range(start, len(rows)) if not rows[i][0].lstrip().startswith("#"))
            rows[first] = (f"{pad}- {rows[first][0][indent + 2:]}", rows[first][1])
        else:
            rows.append((f"{pad}- {_flow(plain(note.value))}", note.comment))


def _align(rows: list[tuple[str, str]]) -> str:
    """Lines with their comments aligned within each run of commented lines."""
    out, i = [], 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][1]:
            j += 1
        if j == i:
            out.append(rows[i][0])
            i += 1
            continue
        width = min(max(len(code) for code, _ in rows[i:j]), 48)
        out.extend(f"{code.ljust(width)}  # {_comment(comment)}" for code, comment in rows[i:j])
        i = j
    return "\n".join(out) + "\n"

