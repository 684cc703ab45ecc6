"""The diff document: what changed between two versions of a persona's map, as
:mod:`cjm_tasks.versions.diff` decides it and the version store keeps it (``diff.json``).

Keys that are Python keywords (``from``) are aliases of fields named for what they hold."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cjm_tasks.models.base import BarrierKind, Better, Closed, Count, PeriodId, PersonaId, Positive, Severity, Share, Unit
from cjm_tasks.versions.diff import NOTES, STATUSES

DIFF_SCHEMA_ID = "https://cjm.example/schemas/diff.schema.json"

Status = Literal[STATUSES]
NoteCode = Literal[tuple(NOTES)]
NonNegative = Annotated[float, Field(ge=0)]


class PrevalenceEvidence(Closed):
    """One side of a catalog barrier or theme: customers who mentioned it of ``denominator``
    (all null when it is no longer in the catalog)."""

    customers: Count | None
    denominator: Count | None
    unit: Unit | None
    prevalence: NonNegative | None
    active: bool
    bound: bool
    """The count is the most it could have been (a theme under ``theme_floor`` in that version)."""


class MetricEvidence(Closed):
    """One side of a metric barrier: its value, and the counts behind it when it is a share."""

    value: float | None
    active: bool
    numerator: Count | None
    denominator: Count | None


class Effect(Closed):
    """The change (later minus earlier) with its 95% interval (none for a mean)."""

    difference: float | None
    low: float | None
    high: float | None


class BarrierChange(Closed):
    """A barrier or theme either version knows, with its status and the numbers behind it."""

    id: str
    title: str
    kind: BarrierKind
    stage: str
    status: Status
    flagged: bool
    direction: Literal["up", "down"] | None
    worse_when: Better
    severity_from: Severity | None
    severity_to: Severity | None
    value_from: float | None
    value_to: float | None
    evidence_from: PrevalenceEvidence | MetricEvidence | None
    evidence_to: PrevalenceEvidence | MetricEvidence | None
    effect: Effect | None
    p_value: Share | None
    q_value: Share | None
    """Benjamini-Hochberg adjusted over every barrier test of the refresh: what decides."""
    note: str | None
    note_code: NoteCode | None
    last_seen: str | None
    """The version it was last active in, for a barrier that ``returned``."""
    metric: str | None = Field(default=None)
    """The metric of a metric barrier (only metric barriers have the key)."""
    phrases: list[str] = Field(default=None)
    """The phrasings of a theme."""


class MetricChange(Closed):
    """A stage metric measured in both versions."""

    stage: str
    metric: str
    from_value: float = Field(alias="from")
    to_value: float = Field(alias="to")
    delta: float | None
    better: Better
    change: Literal["better", "worse"] | None
    p_value: Share | None
    q_value: Share | None
    flagged: bool


class TouchpointChange(Closed):
    """A channel's share of a stage's events in both versions."""

    stage: str
    channel: str
    from_share: Share = Field(alias="from")
    to_share: Share = Field(alias="to")
    delta: float | None
    p_value: Share | None
    q_value: Share | None
    flagged: bool


class StatusCounts(Closed):
    new: Count
    returned: Count
    worsened: Count
    improved: Count
    resolved: Count
    unchanged: Count
    too_few: Count


class DiffMethod(Closed):
    """The limits the changes were tested with (the ``diff`` configuration) and the methods, in words."""

    alpha: Share
    min_share_change: NonNegative
    min_relative_change: NonNegative
    min_prevalence_change: NonNegative
    min_ratio: NonNegative
    min_tested_mentions: Count
    min_share_floor: NonNegative
    min_score_change: NonNegative
    min_nps_change: NonNegative
    min_touchpoint_change: NonNegative
    prevalence: str
    tests: str
    effect: str
    multiple_testing: str


class MapDiff(Closed):
    """What changed between two versions of a persona's map (``from`` null: its first version)."""

    persona: PersonaId
    persona_name: str
    stage_names: dict[str, str]
    from_version: str | None = Field(alias="from")
    to_version: str | None = Field(alias="to")
    from_period: PeriodId | None
    to_period: PeriodId
    unit: Unit
    too_few: bool
    min_customers: Positive | None
    method: DiffMethod
    metrics: list[MetricChange]
    touchpoints: list[TouchpointChange]
    barriers: list[BarrierChange]
    counts: StatusCounts
    summary: str
    """A short paragraph built from the entries' own numbers."""
