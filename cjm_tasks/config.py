"""Load and validate the YAML configuration into typed models.

The main file (``configs/cjm.yaml`` by default, or ``--config`` / ``CJM_CONFIG``) names the other
files (stages, personas, barriers, expectations) under ``files:``. Every file is validated on load;
an error names the file, the key path and what was expected, e.g.::

    configs/personas.yaml: personas[2].rule.all[0].op: 'equals' is not one of eq, ne, in, ...

Relative paths resolve against the folder of the file that holds them; ``${VAR}`` and
``${VAR:-default}`` read the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from codecs import lookup as codec_lookup
from datetime import datetime
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    WithJsonSchema,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from cjm_tasks.errors import ConfigError
from cjm_tasks.periods import PeriodError, zone
from cjm_tasks.resources import configs_dir

DEFAULT_CONFIG = configs_dir() / "cjm.yaml"
CONFIG_ENV = "CJM_CONFIG"

SOURCE_KINDS = ("surveys", "reviews", "sales", "customers")
METRICS = ("csat", "nps", "ces")
STAGE_METRICS = ("csat", "nps", "ces", "rating", "sentiment", "emotion", "conversion_to_next", "reached_share")
OPERATORS = ("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "between", "contains", "is_null")
CHECK_KINDS = ("not_null", "unique", "types", "range", "in_set", "in_period")
SCALAR = Union[str, int, float, bool]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]+$")]


def _localized(value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and value and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        return value
    raise ValueError(f"expected a text or a mapping of language to text such as {{en: ..., ru: ...}}, got {value!r}")


Localized = Annotated[Union[str, dict[str, str]], BeforeValidator(_localized), WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object"}]})]


def localize(text: Localized, language: str) -> str:
    """The text in ``language``, falling back to English, then to any language given."""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get("en") or next(iter(text.values()), "")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- cjm.yaml


class ProjectConfig(Strict):
    name: str = "Customer journey maps"
    language: Literal["en", "ru"] = "en"
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zone(value)
        except PeriodError as exc:
            raise ValueError(str(exc)) from None
        return value


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


def _check_scale(name: str, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if low >= high:
        raise ValueError(f"scale of {name!r} must be [low, high] with low < high, got [{low}, {high}]")


class SourceConfig(Strict):
    location: str | None = None
    format: Literal["csv", "parquet", "jsonl", "xlsx", "sql"]
    csv: CsvOptions = CsvOptions()
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

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return ProjectConfig._known_timezone(value) if value else value

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
            _check_scale(name, bounds)
        return value

    @field_validator("scale_by")
    @classmethod
    def _ordered_by(cls, value: ScaleBy | None) -> ScaleBy | None:
        for name, bounds in (value.scales.items() if value else ()):
            _check_scale(name, bounds)
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
        return self

    @property
    def where(self) -> str:
        """The location, or the SQL source without credentials."""
        return self.location if self.location is not None else self.sql.display()  # type: ignore[union-attr]

    @property
    def rating_scale(self) -> tuple[float, float]:
        return self.scales.get("rating", (1.0, 5.0))


class StorageConfig(Strict):
    work: str = "../build/work"
    versions: str = "../build/store"
    site: str = "../build/site"


class S3Config(Strict):
    endpoint_url: str | None = None
    region: str | None = None

    @field_validator("endpoint_url", "region", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


Better = Literal["lower", "higher"]
# Which way is better for the metrics every stage has; survey scales add their own under
# ``metrics.better`` and rates declare theirs in stages.yaml. Read through CjmConfig.better().
BUILT_IN_BETTER: dict[str, str] = {"csat": "higher", "nps": "higher", "ces": "lower", "rating": "higher", "sentiment": "higher",
                                   "emotion": "higher", "conversion_to_next": "higher", "reached_share": "higher"}


class MetricsConfig(Strict):
    """Survey metrics and their scales (review ratings take theirs from ``sources.reviews.scales``)."""

    scales: dict[str, tuple[float, float]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
    better: dict[str, Better] = {}

    @field_validator("scales")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, bounds in value.items():
            if name in ("rating", "sentiment", "emotion", "conversion_to_next", "reached_share"):
                hint = (" (review ratings: sources.reviews.scales: {rating: [low, high]})" if name == "rating" else "")
                raise ValueError(f"{name!r} is a built-in map metric, not a survey metric{hint}")
            _check_scale(name, bounds)
        return value


class DiffConfig(Strict):
    """When a change between two versions is flagged (see cjm_tasks/versions/diff.py)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    min_share_change: float = Field(0.03, ge=0, le=1)
    min_relative_change: float = Field(0.25, ge=0)
    min_score_change: float = Field(0.2, ge=0)
    min_nps_change: float = Field(5.0, ge=0)
    min_touchpoint_change: float = Field(0.05, ge=0, le=1)
    # A prevalence that doubles (or halves) is material from a low base too, once it moved at
    # least ``min_share_floor`` (half a point by default): 6 -> 42 customers of 1,500 is a change.
    min_ratio: float = Field(2.0, gt=1)
    # Prevalences are shares of all active customers, far smaller than shares of texts: one point
    # (15 customers of 1,500) is material, with min_relative_change, when it is significant.
    min_prevalence_change: float = Field(0.01, ge=0, le=1)
    # Barriers and themes mentioned by fewer customers than this in the two versions together
    # are not tested: they cannot show a supported change, and leaving them out (a filter on the
    # total, independent of the test under no change) keeps the false-discovery adjustment for
    # the tests that can.
    min_tested_mentions: int = Field(8, ge=0)
    min_share_floor: float = Field(0.005, ge=0, le=1)


class SmtpConfig(Strict):
    host: str
    port: int = 587
    sender: str
    recipients: list[str] = Field(min_length=1)
    starttls: bool = True
    username_env: str | None = None  # names of environment variables, never the secrets themselves
    password_env: str | None = None


class NotifyConfig(Strict):
    """Where the summary of a refresh goes: the log (default) or e-mail."""

    channel: Literal["log", "smtp"] = "log"
    site_url: str | None = None  # public address of the published site, for the link in the summary
    smtp: SmtpConfig | None = None

    @model_validator(mode="after")
    def _smtp_needs_settings(self) -> NotifyConfig:
        if self.channel == "smtp" and self.smtp is None:
            raise ValueError("channel 'smtp' needs an smtp section (host, sender, recipients)")
        return self


class FilesConfig(Strict):
    stages: str = "stages.yaml"
    personas: str = "personas.yaml"
    # One catalog, or several combined in order (e.g. a domain catalog and your own additions).
    barriers: Union[str, list[str]] = "barriers.yaml"
    expectations: str = "expectations.yaml"
    # More example sentences per catalog barrier, and neutral ones, kept apart from the catalog.
    examples: str | None = None


class MainFile(Strict):
    project: ProjectConfig = ProjectConfig()
    files: FilesConfig = FilesConfig()
    sources: dict[Literal["surveys", "reviews", "sales", "customers"], SourceConfig]
    storage: StorageConfig = StorageConfig()
    s3: S3Config = S3Config()
    metrics: MetricsConfig = MetricsConfig()
    diff: DiffConfig = DiffConfig()
    notify: NotifyConfig = NotifyConfig()

    @field_validator("sources")
    @classmethod
    def _has_journey_data(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not set(value) & {"surveys", "reviews", "sales"}:
            raise ValueError("configure at least one of surveys, reviews, sales")
        return value


# --------------------------------------------------------------------------- stages.yaml


class RateConfig(Strict):
    numerator: str
    denominator: str
    better: Better = "lower"


class StageConfig(Strict):
    id: Slug
    names: dict[str, str] = Field(min_length=1)
    goal: dict[str, str] = {}
    events: list[str] = []
    questions: dict[str, str] = {}
    rates: dict[str, RateConfig] = {}
    ideal: dict[str, float] = {}
    next: str | None = Field("__following__")
    loops_to: list[str] = []

    def name(self, language: str) -> str:
        return localize(self.names, language)


class OrdersConfig(Strict):
    """Which sales events are orders, for the derived persona features (order_count,
    total_order_value, avg_order_value); their value is the sales source's ``amount`` column."""

    events: list[str] = Field(min_length=1)
    value: Literal["amount"] = "amount"


DEFAULT_ORDER_EVENTS = ("order_placed", "repeat_order")


class StagesFile(Strict):
    stages: list[StageConfig] = Field(min_length=1)
    orders: OrdersConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StagesFile:
        ids = [s.id for s in self.stages]
        seen_events: dict[str, str] = {}
        seen_questions: dict[str, str] = {}
        for i, stage in enumerate(self.stages):
            if ids.count(stage.id) > 1:
                raise ValueError(f"stages[{i}].id: stage {stage.id!r} is declared twice")
            for event in stage.events:
                if event in seen_events:
                    raise ValueError(f"stages[{i}].events: event {event!r} already belongs to stage {seen_events[event]!r}")
                seen_events[event] = stage.id
            for question in stage.questions:
                if question in seen_questions:
                    raise ValueError(f"stages[{i}].questions: question {question!r} already belongs to stage {seen_questions[question]!r}")
                seen_questions[question] = stage.id
            targets = [("next", stage.next)] + [(f"loops_to[{j}]", t) for j, t in enumerate(stage.loops_to)]
            for key, target in targets:
                if target not in (None, "__following__") and target not in ids:
                    raise ValueError(f"stages[{i}].{key}: {target!r} is not a stage id (expected one of {', '.join(ids)})")
        return self


# --------------------------------------------------------------------------- personas.yaml


class Condition(Strict):
    field: str = Field(min_length=1)
    op: Literal["eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "between", "contains", "is_null"]
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        op, value = self.op, self.value
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"operator {op!r} needs a non-empty list as value, got {value!r}")
        elif op == "between":
            if not (isinstance(value, list) and len(value) == 2):
                raise ValueError(f"operator 'between' needs [low, high] as value, got {value!r}")
            if not (_comparable(value[0]) and _comparable(value[1]) and type(value[0]) is type(value[1]) or
                    all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise ValueError(f"operator 'between' needs two numbers or two ISO dates, got {value!r}")
            if value[0] > value[1]:
                raise ValueError(f"operator 'between' needs low <= high, got {value!r}")
        elif op == "is_null":
            if value not in (None, True, False):
                raise ValueError(f"operator 'is_null' takes true, false or no value, got {value!r}")
        elif op == "contains":
            if not isinstance(value, str):
                raise ValueError(f"operator 'contains' needs a text value, got {value!r}")
        elif op in ("lt", "le", "gt", "ge"):
            if not _comparable(value):
                raise ValueError(f"operator {op!r} needs a number or a date, got {value!r}")
        elif isinstance(value, (list, dict)) or value is None:
            raise ValueError(f"operator {op!r} needs a single value, got {value!r}")
        return self


def _comparable(value: Any) -> bool:
    """A number, or a text holding an ISO date / datetime (compared as a timestamp)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


class AllRule(Strict):
    all: list[Rule] = Field(min_length=1)


class AnyRule(Strict):
    any: list[Rule] = Field(min_length=1)


class NotRule(Strict):
    not_: Rule = Field(alias="not")


_RULE_KEYS = {"all": "rule:all", "any": "rule:any", "not": "rule:not", "field": "rule:condition"}


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {AllRule: "rule:all", AnyRule: "rule:any", NotRule: "rule:not", Condition: "rule:condition"}[type(value)]
    if not isinstance(value, dict):
        return None
    kinds = {_RULE_KEYS[k] for k in value if k in _RULE_KEYS}
    return kinds.pop() if len(kinds) == 1 else None


Rule = Annotated[
    Union[
        Annotated[AllRule, Tag("rule:all")],
        Annotated[AnyRule, Tag("rule:any")],
        Annotated[NotRule, Tag("rule:not")],
        Annotated[Condition, Tag("rule:condition")],
    ],
    Discriminator(
        _rule_kind,
        custom_error_type="invalid_rule",
        custom_error_message="a rule is {all: [rules]}, {any: [rules]}, {not: rule} or {field, op, value}",
    ),
]
AllRule.model_rebuild()
AnyRule.model_rebuild()
NotRule.model_rebuild()


class PersonaConfig(Strict):
    id: Slug
    name: str
    names: dict[str, str] = {}
    description: str = ""
    rule: Rule

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "all":
            raise ValueError("'all' is reserved for the map of every row (rows without a customer id included)")
        return value

    def display_name(self, language: str) -> str:
        return self.names.get(language, self.name)


class PersonasFile(Strict):
    membership: Literal["first", "all"] = "first"
    personas: list[PersonaConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> PersonasFile:
        ids = [p.id for p in self.personas]
        for i, pid in enumerate(ids):
            if ids.index(pid) != i:
                raise ValueError(f"personas[{i}].id: persona {pid!r} is declared twice")
        return self


# --------------------------------------------------------------------------- barriers.yaml


class CatalogBarrier(Strict):
    id: Slug
    stage: str
    title: Localized
    recommendation: Localized
    keywords: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = Field(min_length=1)
    exclude: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
    # Complaint sentences per language; texts close to them match by similarity (docs/barriers.md).
    examples: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}

    @field_validator("keywords")
    @classmethod
    def _some_keywords(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not any(value.values()):
            raise ValueError("at least one keyword is needed")
        return value

    @model_validator(mode="after")
    def _keywords_parse(self) -> CatalogBarrier:
        """A keyword the matcher cannot read is refused when the file loads, with its key."""
        from cjm_tasks.maps.matching import parse_keyword

        for section in ("keywords", "exclude"):
            for language, words in getattr(self, section).items():
                for i, word in enumerate(words):
                    try:
                        parse_keyword(self.id, word, language)
                    except ValueError as exc:
                        raise ValueError(f"{section}.{language}[{i}]: {exc}") from None
        return self


class MetricRule(Strict):
    id: Slug
    stage: str
    metric: str
    op: Literal["lt", "le", "gt", "ge"]
    threshold: float
    min_samples: int = Field(0, ge=0)
    title: Localized
    recommendation: Localized


class DetectionConfig(Strict):
    """Thresholds of barrier detection (see docs/barriers.md for how they are used)."""

    min_mentions: int = Field(5, ge=1)
    min_share: float = Field(0.01, gt=0, le=1)
    min_customers: int = Field(30, ge=1)
    negative_score: float = Field(0.25, ge=0, le=1)
    emerging_min_support: int = Field(5, ge=2)
    emerging_min_share: float = Field(0.02, gt=0, le=1)
    emerging_max: int = Field(5, ge=0)
    theme_floor: int = Field(3, ge=1)
    themes_tracked: int = Field(200, ge=0)
    severity_half: float = Field(0.1, gt=0, le=1)
    quotes: int = Field(3, ge=0, le=10)
    quote_chars: int = Field(200, ge=40)


class Lexicon(Strict):
    positive: dict[str, list[str]] = {}
    negative: dict[str, list[str]] = {}


DEFAULT_NEGATIONS: dict[str, list[str]] = {
    "en": ["not", "no", "never", "t", "without", "none", "nothing", "nobody", "neither", "nor", "cannot", "hardly"],
    "ru": ["не", "нет", "ни", "без", "никогда", "ничего", "никто", "никакой*", "никаких", "никак", "нельзя", "нету"],
    "pt": ["nao", "nem", "sem", "nunca", "nenhum*", "nenhuma*", "nada", "n", "jamais", "ninguem"],
}
# Idioms whose negation word negates nothing that follows ("no problem paying by card").
DEFAULT_NEGATION_IDIOMS: dict[str, list[str]] = {
    "en": ["no problem*", "no issue*", "not only", "no doubt", "no wonder", "never mind"],
    "ru": ["без проблем*", "не только", "чуть не", "едва не", "не зря", "нет проблем*", "ничего себе"],
    "pt": ["sem problema*", "nao so", "nao apenas", "nao somente", "sem duvida"],
}
# Words that make what follows a fear or an expectation, not an experience ("I was afraid it
# would arrive late, but..."): a keyword after one in its clause, before any contrast word, does not count.
DEFAULT_HEDGES: dict[str, list[str]] = {
    "en": ["afraid", "worried", "worry", "feared", "fear", "expected", "expecting", "thought", "hoped", "assumed", "if"],
    "ru": ["боял*", "опасал*", "думал*", "ожидал*", "переживал*", "волновал*", "если"],
    "pt": ["medo", "receio", "achei", "pensei", "esperava", "temia", "se"],
}
DEFAULT_CONTRASTS: dict[str, list[str]] = {
    "en": ["but", "however", "though", "although", "yet", "instead"],
    "ru": ["но", "однако", "а", "зато", "хотя"],
    "pt": ["mas", "porem", "entretanto", "contudo", "so que"],
}
# Words skipped when counting a negation window ("without a single error", "ни одной ошибки").
DEFAULT_FILLERS: dict[str, list[str]] = {
    "en": ["a", "an", "the", "any", "single", "one", "more", "really", "very", "too", "much", "so"],
    "ru": ["ни", "одной", "одного", "единой", "единого", "особо", "очень", "слишком", "совсем", "было"],
    "pt": ["um", "uma", "o", "a", "nenhum", "muito", "tao"],
}
# Phrases that negate the keyword they follow ("очереди не было", "atraso nenhum", "queues: none").
DEFAULT_NEGATIONS_AFTER: dict[str, list[str]] = {
    "en": ["none"],
    "ru": ["нет", "не было", "не оказалось", "не наблюдалось", "никакой", "никаких", "никакого", "никакая"],
    "pt": ["nenhum", "nenhuma", "zero"],
}


class SimilarityConfig(Strict):
    """Matching by similarity to the catalog's example sentences (docs/barriers.md, "Matching")."""

    enabled: bool = True
    # The classifier's probability that a sentence is its most likely barrier's (docs/barriers.md).
    threshold: float = Field(0.25, gt=0, le=1)
    # That probability must exceed the probability of "none" (a neutral sentence) by this much.
    margin: float = Field(0.0, ge=0, le=1)
    # And the sentence must be this close (TF-IDF cosine) to one of that barrier's examples.
    min_cosine: float = Field(0.1, ge=0, le=1)
    min_words: int = Field(2, ge=1)
    # Texts scored at least this (0..1, 1 best) are not read for similarity: praise is not a complaint.
    max_score: float = Field(0.5, ge=0, le=1)
    neutral: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
    # Complaints about things the catalog does not list (price level, parking...): a class of their
    # own, so a complaint is not pushed into the nearest barrier.
    other: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}


class MatchingConfig(Strict):
    """How texts are matched to the catalog (docs/barriers.md, "Matching")."""

    word_forms: bool = True
    gap_words: int = Field(3, ge=1, le=10)
    # A keyword without a negation of its own does not count after a negation this many words before it.
    negation_window: int = Field(2, ge=0, le=5)
    # `~keyword` needs a negation at most this many words before it.
    negated_window: int = Field(3, ge=1, le=6)
    # Negation words per language (a keyword is checked against those of its own language).
    negations: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_NEGATIONS.items()})
    negations_after: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_NEGATIONS_AFTER.items()})
    negation_idioms: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_NEGATION_IDIOMS.items()})
    hedges: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_HEDGES.items()})
    contrasts: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_CONTRASTS.items()})
    fillers: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_FILLERS.items()})
    similarity: SimilarityConfig = SimilarityConfig()


class BarriersFile(Strict):
    catalog: list[CatalogBarrier] = []
    metric_rules: list[MetricRule] = []
    detection: DetectionConfig = DetectionConfig()
    sentiment: Lexicon = Lexicon()
    matching: MatchingConfig = MatchingConfig()

    @model_validator(mode="after")
    def _unique_ids(self) -> BarriersFile:
        for section in ("catalog", "metric_rules"):
            ids = [b.id for b in getattr(self, section)]
            for i, bid in enumerate(ids):
                if ids.index(bid) != i:
                    raise ValueError(f"{section}[{i}].id: barrier {bid!r} is declared twice")
        return self


class ExamplesFile(Strict):
    """``files.examples``: example sentences added to the catalog's (``examples.<barrier id>.<lang>``),
    neutral sentences and other complaints added to ``matching.similarity.neutral`` and ``.other``."""

    examples: dict[str, dict[str, list[Annotated[str, StringConstraints(min_length=1)]]]] = {}
    neutral: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
    other: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}


def _with_examples(barriers: BarriersFile, extra: ExamplesFile, file: str) -> BarriersFile:
    ids = [b.id for b in barriers.catalog]
    for barrier_id in extra.examples:
        if barrier_id not in ids:
            raise ConfigError(file, f"examples.{barrier_id}", f"{barrier_id!r} is not a catalog barrier (expected one of {', '.join(ids)})")
    merge = lambda a, b: {lang: [*a.get(lang, []), *b.get(lang, [])] for lang in dict.fromkeys([*a, *b])}  # noqa: E731
    catalog = [b.model_copy(update={"examples": merge(b.examples, extra.examples.get(b.id, {}))}) for b in barriers.catalog]
    similarity = barriers.matching.similarity
    similarity = similarity.model_copy(update={"neutral": merge(similarity.neutral, extra.neutral), "other": merge(similarity.other, extra.other)})
    return barriers.model_copy(update={"catalog": catalog, "matching": barriers.matching.model_copy(update={"similarity": similarity})})


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


# --------------------------------------------------------------------------- the whole


class CjmConfig(Strict):
    """The validated configuration: the main file plus the files it names."""

    path: Path
    project: ProjectConfig
    sources: dict[str, SourceConfig]
    storage: StorageConfig
    s3: S3Config
    metrics: MetricsConfig
    diff: DiffConfig
    notify: NotifyConfig
    stages: list[StageConfig]
    personas: PersonasFile
    barriers: BarriersFile
    expectations: ExpectationsFile
    files: dict[str, Path]
    orders: OrdersConfig | None = None
    barrier_files: list[Path] = []

    @property
    def order_events(self) -> list[str]:
        """Sales events that are orders: ``orders.events`` of stages.yaml, else order_placed and
        repeat_order when a stage lists them (empty: no order features)."""
        if self.orders is not None:
            return list(self.orders.events)
        return [e for e in DEFAULT_ORDER_EVENTS if e in self.event_stage]

    @property
    def stage_ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def stage(self, stage_id: str) -> StageConfig:
        return next(s for s in self.stages if s.id == stage_id)

    def next_stage(self, stage_id: str) -> str | None:
        """The stage whose reach counts as conversion from ``stage_id`` (None at the end)."""
        ids = self.stage_ids
        nxt = self.stage(stage_id).next
        if nxt == "__following__":
            i = ids.index(stage_id)
            return ids[i + 1] if i + 1 < len(ids) else None
        return nxt

    @property
    def event_stage(self) -> dict[str, str]:
        """Event type -> stage id."""
        return {e: s.id for s in self.stages for e in s.events}

    @property
    def question_stage_metric(self) -> dict[str, tuple[str, str]]:
        """Survey question id -> (stage id, metric)."""
        return {q: (s.id, m) for s in self.stages for q, m in s.questions.items()}

    def better(self, metric: str) -> str:
        """"lower" or "higher": which way ``metric`` (a stage metric, survey scale or rate) is better."""
        for stage in self.stages:
            if metric in stage.rates:
                return stage.rates[metric].better
        return self.metrics.better.get(metric) or BUILT_IN_BETTER.get(metric, "higher")

    def directions(self) -> dict[str, str]:
        """Every metric and rate of the configuration with the way it is better."""
        names = [*BUILT_IN_BETTER, *self.metrics.scales, *(r for s in self.stages for r in s.rates)]
        return {name: self.better(name) for name in dict.fromkeys(names)}

    def sha256(self) -> str:
        """Hash of what shapes the maps: everything but where data and outputs are stored and
        the diff thresholds (they shape diffs, not maps).

        Moving the inputs or the store does not change it; changing a stage, persona rule,
        barrier keyword, threshold or column mapping does.
        """
        doc = self.model_dump(mode="json", exclude={"path", "files", "storage", "s3", "diff", "notify", "barrier_files"}, exclude_none=True)
        for src in doc["sources"].values():
            src.pop("location", None)
            if isinstance(src.get("sql"), dict):
                src["sql"] = {"query": src["sql"].get("query")}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --------------------------------------------------------------------------- loading

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """Which main config file to use: ``explicit``, else ``$CJM_CONFIG``, else the bundled default."""
    chosen = explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    return Path(chosen).expanduser()


def load_config(path: str | os.PathLike | None = None) -> CjmConfig:
    """Load and validate the main config file and the files it names.

    Raises :class:`ConfigError` naming the file, the key path and what was expected.
    """
    main_path = config_path(path).resolve()
    main = _load_model(main_path, MainFile)
    base = main_path.parent
    catalogs = main.files.barriers if isinstance(main.files.barriers, list) else [main.files.barriers]
    if not catalogs:
        raise ConfigError(_display(main_path), "files.barriers", "give at least one barriers file")
    barrier_files = [Path(resolve_path(c, base)) for c in catalogs]
    files = {name: resolve_path(getattr(main.files, name), base) for name in FilesConfig.model_fields
             if getattr(main.files, name) is not None and name != "barriers"}
    files["barriers"] = str(barrier_files[0])
    stages_file = _load_model(Path(files["stages"]), StagesFile)
    stages = stages_file
    personas = _load_model(Path(files["personas"]), PersonasFile)
    barriers = _combine_catalogs([(_display(f), _load_model(f, BarriersFile)) for f in barrier_files])
    if "examples" in files:
        barriers = _with_examples(barriers, _load_model(Path(files["examples"]), ExamplesFile), _display(Path(files["examples"])))
    expectations = _load_model(Path(files["expectations"]), ExpectationsFile)

    sources = {
        name: src.model_copy(update={"location": resolve_path(src.location, base)}) if src.location is not None else src
        for name, src in main.sources.items()
    }
    storage = StorageConfig(**{k: resolve_path(v, base) for k, v in main.storage.model_dump().items()})
    config = CjmConfig(
        path=main_path,
        project=main.project,
        sources=sources,
        storage=storage,
        s3=main.s3,
        metrics=main.metrics,
        diff=main.diff,
        notify=main.notify,
        stages=stages.stages,
        personas=personas,
        barriers=barriers,
        expectations=expectations,
        files={k: Path(v) for k, v in files.items()},
        orders=stages_file.orders,
        barrier_files=barrier_files,
    )
    _check_references(config)
    return config


def _combine_catalogs(loaded: list[tuple[str, BarriersFile]]) -> BarriersFile:
    """Several barriers files as one: catalogs and metric rules in file order; detection,
    sentiment and matching settings from the first file. An id declared in two files is an error."""
    first = loaded[0][1]
    if len(loaded) == 1:
        return first
    catalog, rules, seen = [], [], {}
    for file, part in loaded:
        for section, items, out in (("catalog", part.catalog, catalog), ("metric_rules", part.metric_rules, rules)):
            for i, item in enumerate(items):
                key = (section, item.id)
                if key in seen:
                    raise ConfigError(file, f"{section}[{i}].id", f"barrier {item.id!r} is already declared in {seen[key]}")
                seen[key] = file
                out.append(item)
    return first.model_copy(update={"catalog": catalog, "metric_rules": rules})


def resolve_path(value: str, base: Path) -> str:
    """``value`` as an absolute path against ``base``; ``s3://`` URLs are left as they are."""
    if "://" in value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_yaml(path: Path) -> Any:
    name = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, None, f"cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(name, where, f"invalid YAML: {problem}") from None
    if data is None:
        raise ConfigError(name, None, "file is empty (expected a mapping of keys)")
    if not isinstance(data, dict):
        raise ConfigError(name, None, f"expected a mapping of keys at the top, got {type(data).__name__}")
    return _expand_env(data, name, "")


def _expand_env(node: Any, file: str, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, file, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, file, f"{key}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(file, key, f"environment variable {name} is not set (write ${{{name}:-default}} for a default)")
            return default
        return value

    return _ENV_RE.sub(substitute, node)


def _load_model(path: Path, model: type[BaseModel]) -> Any:
    data = _read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _config_error(_display(path), exc, model) from None


_KEY_IN_MESSAGE = re.compile(r"^(?P<key>[A-Za-z_][\w.\[\]]*): (?P<rest>.*)$", re.S)


def _located(error: dict[str, Any]) -> tuple[str, str]:
    """(key path, message); a model-level check may name the exact key at the start of its message."""
    key, message = _key_path(error["loc"]), _message(error)
    match = _KEY_IN_MESSAGE.match(message) if error["type"] == "value_error" else None
    if match:
        inner = match.group("key")
        key = f"{key}.{inner}" if key and not inner.startswith("[") else f"{key}{inner}"
        message = match.group("rest")
    return key, message


def _valid_keys(model: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """The keys a mapping at ``loc`` (inside ``model``) accepts, or None when it cannot be told."""
    import typing

    def models_of(tp: Any) -> list[Any]:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            return models_of(typing.get_args(tp)[0])
        if origin in (Union, getattr(__import__("types"), "UnionType", Union)):
            return [m for a in typing.get_args(tp) for m in models_of(a)]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [tp]
        return [tp]

    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            for t in models_of(tp):
                origin = typing.get_origin(t)
                if isinstance(part, str) and part.startswith("rule:"):
                    tag = {"rule:all": AllRule, "rule:any": AnyRule, "rule:not": NotRule, "rule:condition": Condition}.get(part)
                    if tag is not None and t in (AllRule, AnyRule, NotRule, Condition) or (tag is not None and typing.get_origin(t) is Union):
                        nxt.append(tag)
                    continue
                if isinstance(t, type) and issubclass(t, BaseModel):
                    for name, info in t.model_fields.items():
                        if part in (name, info.alias):
                            nxt.append(info.annotation)
                elif origin in (list, tuple) and isinstance(part, int):
                    nxt.append(typing.get_args(t)[0])
                elif origin is dict and isinstance(part, str):
                    nxt.append(typing.get_args(t)[1])
        current = nxt
        if not current:
            return None
    keys: list[str] = []
    for tp in current:
        for t in models_of(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                keys += [info.alias or name for name, info in t.model_fields.items()]
    return list(dict.fromkeys(keys)) or None


def _config_error(file: str, exc: ValidationError, model: Any = None) -> ConfigError:
    errors = exc.errors(include_url=False)
    for e in errors:
        if e["type"] == "extra_forbidden" and model is not None:
            keys = _valid_keys(model, tuple(e["loc"][:-1]))
            if keys:
                e["valid_keys"] = keys
    lines = [_located(e) for e in errors]
    first_key, first_msg = lines[0]
    if len(lines) > 1:
        extra = "; ".join(f"{k}: {m}" if k else m for k, m in lines[1:6])
        more = f" (and {len(lines) - 6} more)" if len(lines) > 6 else ""
        first_msg = f"{first_msg}\n  also: {extra}{more}"
    return ConfigError(file, first_key or None, first_msg)


def _key_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("rule:"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: dict[str, Any]) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        # The value is not echoed: it may be a secret read from the environment.
        keys = error.get("valid_keys")
        return f"unknown key (expected one of {', '.join(keys)})" if keys else "unknown key"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"{given!r} is not one of {', '.join(expected)}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        return f"{given!r} must be a slug: lower-case letters, digits, '_' or '-'"
    msg = error["msg"]
    if isinstance(given, (dict, list)):
        return f"{msg[0].lower()}{msg[1:]}"
    return f"{msg[0].lower()}{msg[1:]} (got {'null' if given is None else repr(given)})"


SALES_FEATURES = ("first_seen", "last_seen", "main_channel", "event_count")
ORDER_FEATURES = ("order_count", "total_order_value", "avg_order_value")


def available_fields(config: CjmConfig) -> tuple[list[str], bool]:
    """(fields persona rules can use, whether a customers source may add more).

    Derived features need a sales source (the order features also order events); attributes
    come from ``attributes:`` of any source; a customers source without ``attributes:`` reads
    whatever the rules name, which only its file can confirm."""
    fields: list[str] = []
    if "sales" in config.sources:
        fields += SALES_FEATURES
        if config.order_events:
            fields += ORDER_FEATURES
    for source in config.sources.values():
        fields += source.attributes or []
    open_ended = "customers" in config.sources and config.sources["customers"].attributes is None
    return list(dict.fromkeys(fields)), open_ended


def rule_fields(rule: Any, where: str) -> list[tuple[str, str]]:
    """(field, key path) of every condition of a persona rule."""
    if isinstance(rule, Condition):
        return [(rule.field, f"{where}.field")]
    if isinstance(rule, AllRule):
        return [f for i, r in enumerate(rule.all) for f in rule_fields(r, f"{where}.all[{i}]")]
    if isinstance(rule, AnyRule):
        return [f for i, r in enumerate(rule.any) for f in rule_fields(r, f"{where}.any[{i}]")]
    if isinstance(rule, NotRule):
        return rule_fields(rule.not_, f"{where}.not")
    return []


def reference_problems(config: CjmConfig) -> list[ConfigError]:
    """Every cross-file reference that does not resolve (stages, events, questions, metrics,
    persona fields), all at once: fixing a removed stage should not take one run per entry."""
    problems: list[ConfigError] = []

    def problem(file: str, key: str, message: str) -> None:
        problems.append(ConfigError(file, key, message))

    stage_ids = config.stage_ids
    barriers_file = _display(config.files["barriers"])
    stages_file = _display(config.files["stages"])
    personas_file = _display(config.files["personas"])
    main_file = _display(config.path)
    all_events = set(config.event_stage)
    scales = config.metrics.scales
    questions = config.question_stage_metric
    for i, stage in enumerate(config.stages):
        for q, metric in stage.questions.items():
            if metric not in scales:
                problem(stages_file, f"stages[{i}].questions.{q}",
                        f"metric {metric!r} has no scale (expected one of {', '.join(scales)}, or declare it under metrics.scales)")
        for rate, spec in stage.rates.items():
            for side in ("numerator", "denominator"):
                event = getattr(spec, side)
                if event not in all_events:
                    problem(stages_file, f"stages[{i}].rates.{rate}.{side}", f"{event!r} is not an event type of any stage")
    if config.orders is not None:
        for j, event in enumerate(config.orders.events):
            if event not in all_events:
                problem(stages_file, f"orders.events[{j}]", f"{event!r} is not an event type of any stage (expected one of {', '.join(sorted(all_events)) or 'none: no stage lists events'})")
    used_metrics = {m for _, m in questions.values()}
    for metric in scales:
        if metric not in METRICS and metric not in used_metrics:
            problem(main_file, f"metrics.scales.{metric}", f"{metric!r} is not the metric of any question in stages.yaml (questions: {{question_id: {metric}}} under a stage)")
    for metric in config.metrics.better:
        if metric not in scales:
            problem(main_file, f"metrics.better.{metric}", f"{metric!r} has no scale (expected one of {', '.join(scales)})")
    for name, source in config.sources.items():
        key = f"sources.{name}"
        if source.comment_stage is not None:
            if name != "surveys":
                problem(main_file, f"{key}.comment_stage", "comment_stage applies to the surveys source only")
            elif source.comment_stage != "general" and source.comment_stage not in stage_ids:
                problem(main_file, f"{key}.comment_stage",
                        f"{source.comment_stage!r} is not a stage id or 'general' (expected one of {', '.join(stage_ids)}, general)")
        if name != "surveys":
            if source.layout != "wide":
                problem(main_file, f"{key}.layout", "layout applies to the surveys source only")
            if source.text_questions:
                problem(main_file, f"{key}.text_questions", "text_questions applies to the surveys source only")
        if name != "reviews" and (source.scales or source.scale_by):
            problem(main_file, f"{key}.{'scales' if source.scales else 'scale_by'}",
                    "a source's rating scale applies to reviews only (survey metrics: metrics.scales)")
        if name == "customers" and source.row_id == "hash":
            problem(main_file, f"{key}.row_id", "customers are identified by customer_id; a hashed id would make every row a new customer")
        if name == "surveys":
            for j, q in enumerate(source.text_questions):
                if q in questions:
                    problem(main_file, f"{key}.text_questions[{j}]", f"{q!r} is a scored question of stage {questions[q][0]!r}; a text item cannot also be scored")
            if source.melt is not None and source.melt.variable == "question":
                for rule in source.melt.all_rules():
                    if rule.label not in questions and rule.label not in source.text_questions:
                        problem(main_file, f"{key}.melt", f"question {rule.label!r} (from column {rule.column!r}) is listed under no stage in stages.yaml "
                                f"(add it to a stage's questions, e.g. {{{rule.label}: csat}}, or to text_questions)")
            if "question" in source.constants and str(source.constants["question"]) not in questions:
                problem(main_file, f"{key}.constants.question", f"{source.constants['question']!r} is listed under no stage in stages.yaml")
        if name == "sales" and source.melt is not None and source.melt.variable == "event_type":
            for rule in source.melt.all_rules():
                if rule.label not in all_events:
                    problem(main_file, f"{key}.melt", f"event {rule.label!r} (from column {rule.column!r}) is listed under no stage in stages.yaml")
        if "stage" in source.constants and str(source.constants["stage"]) not in stage_ids:
            problem(main_file, f"{key}.constants.stage", f"{source.constants['stage']!r} is not a stage id (expected one of {', '.join(stage_ids)})")
    for i, barrier in enumerate(config.barriers.catalog):
        if barrier.stage not in stage_ids:
            problem(barriers_file, f"catalog[{i}].stage", f"{barrier.stage!r} is not a stage id (barrier {barrier.id!r}; expected one of {', '.join(stage_ids)})")
    for i, rule in enumerate(config.barriers.metric_rules):
        if rule.stage != "*" and rule.stage not in stage_ids:
            problem(barriers_file, f"metric_rules[{i}].stage", f"{rule.stage!r} is not a stage id or '*' (rule {rule.id!r}; expected one of {', '.join(stage_ids)})")
            continue
        stages = config.stages if rule.stage == "*" else [config.stage(rule.stage)]
        known = set(STAGE_METRICS) | set(scales) | {r for s in stages for r in s.rates}
        if rule.metric not in known:
            problem(barriers_file, f"metric_rules[{i}].metric",
                    f"{rule.metric!r} is not a metric of stage {rule.stage!r} (expected one of {', '.join(sorted(known))})")
    fields, open_ended = available_fields(config)
    for i, persona in enumerate(config.personas.personas):
        for field, key in rule_fields(persona.rule, f"personas[{i}].rule"):
            if field in fields or open_ended:
                continue
            if field in ORDER_FEATURES and "sales" in config.sources:
                why = "order features need the sales events that are orders: declare `orders: {events: [...]}` in stages.yaml"
            elif field in SALES_FEATURES + ORDER_FEATURES:
                why = "derived features need a sales source"
            else:
                why = "no source declares it: list it under `attributes:` of the source that carries it, or add a customers source"
            problem(personas_file, key, f"persona {persona.id!r}: {field!r} is not a customer attribute or derived feature; {why} "
                    f"(available: {', '.join(fields) or 'none'})")
    return problems


def _check_references(config: CjmConfig) -> None:
    """Raise one :class:`ConfigError` listing every reference that does not resolve."""
    problems = reference_problems(config)
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        rest = "\n".join(f"  also: {f'{p.key}: {p.detail}' if p.file == first.file else p}" for p in problems[1:20])
        more = f"\n  (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ConfigError(first.file, first.key, f"{first.detail}\n{rest}{more}")
    raise first
