"""Where each source's rows come from and how they are read (``sources:`` of cjm.yaml: file
formats, CSV options, wide files melted into rows, SQL queries, rating scales, timestamp formats),
and what the rows must satisfy (expectations.yaml)."""

from __future__ import annotations

from codecs import lookup as codec_lookup
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import ByteSize, Field, StringConstraints, field_validator, model_validator

from cjm_tasks.config.common import Strict, check_scale, check_timezone

SCALAR = Union[str, int, float, bool]


class CsvOptions(Strict):
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codec_lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (expected e.g. utf-8, cp1251, latin-1)") from None
        return value


class ReadLimits(Strict):
    """How big or deep a file's parts may be before the reader refuses it (``limits:`` of a
    source). Sizes are bytes or text such as ``4MB`` / ``16 MiB``; ``max_file_bytes`` is off by
    default. A hostile or broken file stops with an error that names the file, the row or line,
    and the setting to raise, long before it can exhaust memory or crash a parser."""

    max_field_bytes: ByteSize = Field(ByteSize(1 << 20), ge=1)   # one value (a CSV field, a JSON string)
    max_line_bytes: ByteSize = Field(ByteSize(8 << 20), ge=1)    # one JSON line, one CSV row
    max_file_bytes: ByteSize | None = Field(None, ge=1)          # one input file (an S3 object included)
    # pyarrow's JSON parser recurses per level and crashes (SIGSEGV) near 10,000: hence the cap.
    max_json_depth: int = Field(100, ge=1, le=1000)


class MeltCondition(Strict):
    """A condition on one row of a wide file: ``column op value`` or ``column op other``."""

    column: str
    op: Literal["eq", "ne", "in", "lt", "le", "gt", "ge", "is_null", "not_null"]
    value: Any = None
    other: str | None = None
    compare: Literal["value", "date"] = "value"  # date: compare calendar days of timestamps

    @model_validator(mode="after")
    def _one_operand(self) -> MeltCondition:
        if self.op in ("is_null", "not_null"):
            return self
        if (self.value is None) == (self.other is None):
            raise ValueError(f"operator {self.op!r} needs either value or other (a column), not both or neither")
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("operator 'in' needs a list as value")
        return self


class MeltRule(Strict):
    """One long row per wide row from ``column``, labelled ``label``, when ``when`` holds."""

    column: str
    label: str
    when: MeltCondition | None = None


class MeltConfig(Strict):
    """Turn a wide export (one column per question, or per milestone of an order) into rows.

    ``columns`` maps each wide file column to the label it becomes in ``variable``; ``rules``
    does the same with a condition per row (e.g. a ``delivery_late`` event from the delivery
    date when it is after the promised date). The cell goes to ``value``; empty cells make no row.
    """

    columns: dict[str, str] = {}
    rules: list[MeltRule] = []
    variable: str
    value: str

    @model_validator(mode="after")
    def _something_to_melt(self) -> MeltConfig:
        if not self.columns and not self.rules:
            raise ValueError("give columns or rules")
        return self

    def all_rules(self) -> list[MeltRule]:
        return [MeltRule(column=c, label=label) for c, label in self.columns.items()] + list(self.rules)

    def file_columns(self) -> list[str]:
        out: list[str] = []
        for rule in self.all_rules():
            for c in (rule.column, rule.when.column if rule.when else None, rule.when.other if rule.when else None):
                if c and c not in out:
                    out.append(c)
        return out


TIMESTAMP_KEYWORDS = ("iso8601", "epoch_seconds", "epoch_milliseconds", "excel")


def check_timestamp_format(value: str) -> str:
    """A keyword of TIMESTAMP_KEYWORDS or a strftime format that reads back what it writes."""
    if value in TIMESTAMP_KEYWORDS:
        return value
    if "%s" in value or "%Q" in value:
        raise ValueError(f"{value!r}: epoch timestamps are read with timestamp_format: epoch_seconds (or epoch_milliseconds)")
    if "%" not in value:
        raise ValueError(f"{value!r} is neither one of {', '.join(TIMESTAMP_KEYWORDS)} nor a strftime format such as '%d.%m.%Y %H:%M'")
    sample = datetime(2025, 3, 4, 2, 41, 5)
    try:
        text = sample.strftime(value)
        datetime.strptime(text, value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a usable strftime format ({exc}); e.g. '%d.%m.%Y %H:%M' for 04.03.2025 02:41") from None
    return value


class SqlOptions(Strict):
    """``format: sql``: a query run with the period's bounds bound to ``:start`` and ``:end``."""

    url: str | None = None          # a SQLAlchemy URL, normally ${ENV_VAR}
    connection: str | None = None   # or an Airflow connection id
    query: str = Field(min_length=1)
    chunk_rows: int = Field(50_000, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> SqlOptions:
        if (self.url is None) == (self.connection is None):
            raise ValueError("give url (a SQLAlchemy URL, e.g. ${SURVEYS_DB_URL}) or connection (an Airflow connection id), not both or neither")
        return self

    def display(self) -> str:
        """Where the rows come from, without credentials."""
        if self.connection:
            return f"sql:connection {self.connection}"
        from urllib.parse import urlsplit

        parts = urlsplit(self.url or "")
        host = parts.hostname or ""
        return f"sql:{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


class ScaleBy(Strict):
    """A scale per row: the value of ``column`` names the scale of that row's rating."""

    column: str
    scales: dict[str, tuple[float, float]] = Field(min_length=1)


class SourceConfig(Strict):
    location: str | None = None
    format: Literal["csv", "parquet", "jsonl", "xlsx", "sql"]
    csv: CsvOptions = CsvOptions()
    limits: ReadLimits = ReadLimits()
    sheet: Union[str, int, None] = None   # xlsx: a sheet name or 0-based index (default: the first)
    sql: SqlOptions | None = None
    # surveys: wide (one row per answer, or per response with `melt`) or long (one row per answer,
    # the response id repeated; uniqueness is then checked on response and question)
    layout: Literal["wide", "long"] = "wide"
    # surveys: question ids whose value is free text, not a score: the text becomes the comment
    # of the response (placed by comment_stage)
    text_questions: list[str] = []
    row_id: Literal["column", "hash"] = "column"
    columns: dict[str, Union[str, list[str]]] = {}
    values: dict[str, dict[str, str]] = {}
    constants: dict[str, SCALAR] = {}
    melt: MeltConfig | None = None
    timestamp_format: str | None = None
    timezone: str | None = None
    period_rows: Literal["filter", "require"] = "filter"
    # Customer attributes this source carries (any source); on the customers source, which
    # columns to read (default: the fields the persona rules use).
    attributes: list[str] | None = None
    # reviews: the rating scale (default [1, 5]); ratings are read onto 1-5 for the maps
    scales: dict[str, tuple[float, float]] = {}
    scale_by: ScaleBy | None = None
    # surveys only: the stage a response's free-text comment belongs to ("general": no stage;
    # default: the stage of the question it was given with, or general when a wide export
    # repeats it on every question's row)
    comment_stage: str | None = None
    # A file the exporter writes once the period's files are complete (e.g. _SUCCESS): a name in
    # the folder the location names or sits in, or a relative path from it (../_SUCCESS: the
    # quarter folder's marker); {period} is replaced. A run waits for it; it is never read as data.
    marker: str | None = None

    @field_validator("marker")
    @classmethod
    def _relative_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip() or value.startswith(("/", "~")) or "://" in value or "\\" in value or any(c in value for c in "*?["):
            raise ValueError(f"{value!r}: expected a file name, or a path relative to the folder of the source's files "
                             "(e.g. _SUCCESS, or ../_SUCCESS for a marker of the whole quarter folder), without wildcards")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return check_timezone(value) if value else value

    @field_validator("timestamp_format")
    @classmethod
    def _usable_format(cls, value: str | None) -> str | None:
        return check_timestamp_format(value) if value else value

    @field_validator("scales")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, bounds in value.items():
            if name != "rating":
                raise ValueError(f"{name!r}: a source's scales name only 'rating' (review ratings); survey metrics take their scale from metrics.scales")
            check_scale(name, bounds)
        return value

    @field_validator("scale_by")
    @classmethod
    def _ordered_by(cls, value: ScaleBy | None) -> ScaleBy | None:
        for name, bounds in (value.scales.items() if value else ()):
            check_scale(name, bounds)
        return value

    @model_validator(mode="after")
    def _where_from(self) -> SourceConfig:
        if self.format == "sql":
            if self.sql is None:
                raise ValueError("sql: format 'sql' needs an sql section (url or connection, and query)")
            if self.location is not None:
                raise ValueError("location: format 'sql' reads from sql.query, not from a location")
        else:
            if self.location is None:
                raise ValueError(f"location: required key is missing (format {self.format!r} reads files)")
            if self.sql is not None:
                raise ValueError(f"sql: only for format 'sql' (this source is {self.format!r})")
        if self.sheet is not None and self.format != "xlsx":
            raise ValueError("sheet: only for format 'xlsx'")
        if self.marker is not None and self.format == "sql":
            raise ValueError("marker: only for sources that read files (a query's rows are there when it runs)")
        return self

    @property
    def where(self) -> str:
        """The location, or the SQL source without credentials."""
        return self.location if self.location is not None else self.sql.display()  # type: ignore[union-attr]

    @property
    def rating_scale(self) -> tuple[float, float]:
        return self.scales.get("rating", (1.0, 5.0))


# --------------------------------------------------------------------------- expectations.yaml


class ExtraExpectation(Strict):
    expectation: Annotated[str, StringConstraints(pattern=r"^expect_[a-z0-9_]+$")]
    kwargs: dict[str, Any] = {}


class SourceExpectations(Strict):
    min_rows: int = Field(1, ge=0)
    max_rows: int | None = Field(None, ge=1)
    mostly: dict[Literal["not_null", "unique", "types", "range", "in_set", "in_period"], Annotated[float, Field(gt=0, le=1)]] = {}
    extra: list[ExtraExpectation] = []


class ExpectationsFile(Strict):
    surveys: SourceExpectations = SourceExpectations()
    reviews: SourceExpectations = SourceExpectations()
    sales: SourceExpectations = SourceExpectations()
    customers: SourceExpectations = SourceExpectations()
