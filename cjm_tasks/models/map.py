"""The journey map document: one persona's map of one period, as
:mod:`cjm_tasks.maps.journey` builds it and the version store keeps it (``map.json``).

A key that maps stored before it lack is not required and, unless the model says so, not null
when present (``Field(default=None)`` on a non-null type)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from cjm_tasks.models.base import (
    BarrierKind,
    Better,
    Closed,
    Count,
    Day,
    Interval,
    Open,
    PeriodId,
    PersonaId,
    Positive,
    Severity,
    Sha256,
    Share,
    SignedUnit,
    Timestamp,
    Unit,
)

SCHEMA_VERSION = 2
MAP_SCHEMA_ID = "https://cjm.example/schemas/map.schema.json"


class Persona(Closed):
    id: PersonaId
    name: str
    description: str
    customers: Count


class Touchpoint(Closed):
    """Events of a stage on one channel."""

    channel: str
    events: Count
    share: Share


class Action(Closed):
    """One of a stage's most frequent event types."""

    event_type: str
    events: Count
    customers: Count


class Rate(Closed):
    """A configured rate (numerator events / denominator events) with its 95% Wilson interval."""

    value: float | None
    numerator: Count
    denominator: Count
    interval: Interval | None


class StageMetrics(Open):
    """A stage's measures; a scale metric the configuration adds beyond CSAT, NPS and CES is one
    more key, a number or null."""

    __pydantic_extra__: dict[str, float | None]

    customers: Count
    reached_share: Share | None
    conversion_to_next: Share | None
    csat: float | None
    nps: Annotated[float, Field(ge=-100, le=100)] | None
    ces: float | None = None
    rating: Annotated[float, Field(ge=1, le=5)] | None
    sentiment: SignedUnit | None
    emotion: SignedUnit | None
    rates: dict[str, Rate]
    intervals: dict[str, Interval | None]
    low_share: dict[str, Share | None] = Field(default=None)
    """Share of each scale's answers in its lowest quarter."""
    samples: dict[str, Count]


class IdealGap(Closed):
    """A metric against the stage's configured ideal."""

    metric: str
    target: float
    actual: float | None
    gap: float | None
    met: bool | None


class Theme(Closed):
    phrase: str
    texts: Positive


class StageThemes(Closed):
    positive: list[Theme]
    negative: list[Theme]


class Quote(Closed):
    text: Annotated[str, Field(max_length=1000)]
    source: str | None
    date: Day | None
    language: str | None
    match: Annotated[list[Count], Field(min_length=2, max_length=2)] | None
    """[start, end) of the matched words in text"""
    via: Literal["keyword", "similarity", "phrase"]
    """how the text was matched: a catalog keyword, similarity to a catalog example, or an emerging theme's phrase"""


class Barrier(Closed):
    """A barrier found at a stage (or unplaced): catalog, metric or emerging, with its evidence."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_.-]+$")]
    title: str
    kind: BarrierKind
    severity: Severity
    evidence: dict[str, Any]
    quotes: Annotated[list[Quote], Field(max_length=10)]
    recommendation: str | None


class Opportunity(Closed):
    barrier: str
    title: str
    action: str
    priority: Severity


class Stage(Closed):
    """One stage of the journey with its measures, themes, barriers and opportunities."""

    id: str
    name: str
    goal: str | None
    next: str | None
    loops_to: list[str]
    touchpoints: list[Touchpoint]
    actions: list[Action]
    metrics: StageMetrics
    ideal: list[IdealGap]
    themes: StageThemes
    too_few: bool
    """Fewer customers at this stage than detection.min_customers: too few to tell."""
    barriers: list[Barrier]
    opportunities: list[Opportunity]


class BarrierCounts(Open):
    __pydantic_extra__: dict[str, Count]

    total: Count
    catalog: Count
    metric: Count
    emerging: Count


class TopBarrier(Closed):
    id: str
    title: str
    stage: str
    kind: BarrierKind
    severity: Severity


class EmotionPoint(Closed):
    stage: str
    emotion: SignedUnit | None


class Summary(Closed):
    customers: Count
    unassigned_customers: Count
    texts: Count
    barriers: BarrierCounts
    top_barriers: Annotated[list[TopBarrier], Field(max_length=5)]
    emotion_curve: list[EmotionPoint]
    lowest_stage: str | None
    too_few: bool


class InputLineage(Open):
    rows: Count
    sha256: Sha256
    location: str
    query: str = Field(default=None)
    """The SQL query of a format: sql source."""


class Lineage(Open):
    """Where the map came from: every input's rows, hash and location, the configuration's hash
    the code version and the engine that did the counting (empty when built outside a refresh)."""

    inputs: dict[str, InputLineage] = Field(default=None)
    config_sha256: Sha256 = Field(default=None)
    code_version: str = Field(default=None)
    engine: Literal["duckdb", "spark"] = Field(default=None)


class DataKinds(Closed):
    """Which kinds of input the persona had rows of in the period: without sales there is no reach,
    conversion, touchpoint, action or rate; without surveys no CSAT, NPS or CES; without reviews no
    review rating. A map stored before this field had them all."""

    sales: bool
    surveys: bool
    reviews: bool


class CatalogMeasure(Closed):
    """A catalog barrier's count in the persona's texts, active or not."""

    stage: str
    customers: Count
    mentions: Count
    prevalence: Share | None
    interval: Interval | None
    stages: dict[str, Count]
    active: bool
    title: str = Field(default=None)
    negativity: float | None = None


class ThemeMeasure(Closed):
    """A tracked theme's count (a phrase of negative texts), active or not."""

    phrase: str
    customers: Count
    mentions: Count
    prevalence: Share | None
    active: bool
    label: str = Field(default=None)
    phrases: list[str] = Field(default=None)
    stage: str = Field(default=None)
    negativity: float | None = None


class Measures(Closed):
    """Who prevalences are shares of, and the counts of every catalog barrier and tracked theme,
    active or not (the diff tests these)."""

    unit: Unit
    denominator: Count
    writers: Count
    texts: Count
    anonymous_texts: Count
    too_few: bool
    min_customers: Positive
    catalog: dict[str, CatalogMeasure]
    themes: dict[str, ThemeMeasure]
    theme_floor: Positive
    severity_half: Annotated[float, Field(gt=0)]


class JourneyMap(Closed):
    """Customer journey map of one persona for one period."""

    schema_version: Literal[SCHEMA_VERSION]
    persona: Persona
    period: PeriodId
    period_start: Timestamp
    period_end: Timestamp
    language: Literal["en", "ru"]
    stages: Annotated[list[Stage], Field(min_length=1)]
    summary: Summary
    lineage: Lineage
    unplaced: list[Barrier]
    """Emerging themes whose texts came without a stage."""
    measures: Measures
    directions: dict[str, Better]
    """Which way every metric and rate is better (from the configuration)."""
    data: DataKinds = Field(default=None)
