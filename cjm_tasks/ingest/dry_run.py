"""``cjm config check --period P``: a dry run of a configuration against the real files.

Before any gate or build, it reads what it reports on and nothing more: each source's header
(the column mapping), the columns that place rows (event names, question ids, timestamps, customer
ids and attributes; never the texts), and prints which events and questions land on which stage,
how many customers each persona gets, and every reference that does not resolve. Cross-file
references that need no data (stages, metrics, persona fields against declared attributes) are
checked when the configuration loads (:func:`cjm_tasks.config.reference_problems`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cjm_tasks.errors import CjmError, DataError, MissingInput
from cjm_tasks.ingest.canonical import DERIVED, ID_COLUMN, _file_columns_for, _wanted_columns
from cjm_tasks.ingest.convert import clip
from cjm_tasks.ingest.readers import _header
from cjm_tasks.ingest.sources import location_for, read_source, require_columns, source_files

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig
    from cjm_tasks.periods import Period

# The columns each source is read with in a dry run (plus its id, timestamp and attributes).
DRY_COLUMNS: dict[str, set[str] | None] = {
    "sales": {"customer_id", "event_type", "stage", "channel", "amount"},
    "surveys": {"customer_id", "question", "stage", "metric"},
    "reviews": {"customer_id", "stage"},
    "customers": None,  # its id and the attributes the rules use: all it reads anyway
}


@dataclass
class ColumnMapping:
    canonical: str
    file_column: str
    required: bool
    found: bool | None  # None: not known before the query runs, or given by a constant/derivation
    note: str = ""


@dataclass
class SourceReport:
    name: str
    where: str
    format: str
    columns: list[ColumnMapping] = field(default_factory=list)
    rows: int = 0
    rows_outside_period: int = 0
    records: int | None = None
    files: int = 0
    error: str | None = None


@dataclass
class DryRun:
    period: str
    sources: dict[str, SourceReport]
    events: list[tuple[str, int, str | None]] = field(default_factory=list)
    questions: list[tuple[str, int, str | None, str | None]] = field(default_factory=list)
    personas: list[tuple[str, int]] = field(default_factory=list)
    customers: int = 0
    unassigned: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def mapped_event_share(self) -> float | None:
        total = sum(n for _, n, _ in self.events)
        return sum(n for _, n, s in self.events if s) / total if total else None


def config_warnings(config: CjmConfig) -> list[str]:
    """What a valid configuration leaves empty, said once rather than discovered on the pages."""
    notes = []
    if "sales" not in config.sources:
        notes.append("no sales source: reach, conversion, touchpoints, actions and rates are not computed (the pages say so)")
    else:
        for stage in config.stages:
            if not stage.events:
                notes.append(f"stage {stage.id!r} lists no sales events: its reach and conversion cannot be computed")
        if not config.order_events:
            notes.append("no order events (stages.yaml `orders: {events: [...]}`): order_count, total_order_value and avg_order_value are not derived")
    if "surveys" not in config.sources:
        notes.append("no surveys source: CSAT, NPS and CES are not computed")
    if "reviews" not in config.sources and "surveys" not in config.sources:
        notes.append("no texts (no reviews or surveys source): no barriers from texts, only metric rules")
    return notes


def _mapping(name: str, config: CjmConfig, header: list[str] | None) -> list[ColumnMapping]:
    source = config.sources[name]
    wanted = _wanted_columns(name, source, config)
    rows: list[ColumnMapping] = []
    melted = {source.melt.variable, source.melt.value} if source.melt else set()
    for file_col, canonical, required in _file_columns_for(source, wanted):
        found = None if header is None else file_col in header
        rows.append(ColumnMapping(canonical, file_col, required, found))
    for canonical in melted:
        rows.append(ColumnMapping(canonical, f"melt of {', '.join(source.melt.file_columns()[:6])}", True, None, "melt"))  # type: ignore[union-attr]
    for canonical, value in source.constants.items():
        rows.append(ColumnMapping(canonical, f"constant {value!r}", False, None, "constant"))
    if source.row_id == "hash":
        rows.append(ColumnMapping(ID_COLUMN[name], "hash of the row", True, None, "generated"))
    for derived, origin in DERIVED.get(name, {}).items():
        if derived not in wanted and derived not in source.constants and derived not in melted:
            rows.append(ColumnMapping(derived, f"from {origin} via stages.yaml", False, None, "derived"))
    return rows


def _first_header(name: str, config: CjmConfig, period: Period | None) -> tuple[list[str] | None, int]:
    source = config.sources[name]
    if source.format == "sql":
        return None, 0
    files = source_files(source, period, config.s3).files
    if not files:
        raise MissingInput(name, location_for(source, period), "no file matches this location")
    display, storage, key = files[0]
    return _header(name, source, display, storage.read_bytes(key)), len(files)


def dry_run(config: CjmConfig, period: Period) -> DryRun:
    """Read what the report needs for ``period`` and collect every problem (never raises for data)."""
    from cjm_tasks.engine import open_engine
    from cjm_tasks.engine.personas import assign_personas, create_customers
    from cjm_tasks.maps.personas import RuleError
    from cjm_tasks.maps.prepared import Inputs, register_inputs

    report = DryRun(period=str(period), sources={}, warnings=config_warnings(config))
    frames: dict[str, Any] = {}
    for name, source in config.sources.items():
        rep = SourceReport(name=name, where=location_for(source, period) if source.location else source.where, format=source.format)
        report.sources[name] = rep
        try:
            header, rep.files = _first_header(name, config, period)
            rep.columns = _mapping(name, config, header)
            if header is not None:
                # Every required column, not only those the dry run reads: the message a refresh would give.
                require_columns(name, source, rep.where, header, _wanted_columns(name, source, config))
            data = read_source(name, config, period, only=DRY_COLUMNS[name])
        except DataError as exc:
            rep.error = str(exc)
            report.problems.append(str(exc))
            continue
        rep.rows, rep.rows_outside_period, rep.records = len(data.frame), data.rows_outside_period, data.records
        for issue in data.issues:
            report.problems.append(f"{name}.{issue.column}: {issue.count} value(s) of {period} are not {issue.expected}, "
                                   f"e.g. {', '.join(repr(clip(v)) for v in issue.samples[:3])} at {'; '.join(issue.rows[:2])}")
        if not len(data.frame):
            report.problems.append(f"{name}: no rows in {period} ({data.rows_outside_period} outside it)")
        frames[name] = data.frame

    sales = frames.get("sales")
    if sales is not None and "event_type" in sales.columns:
        counts = sales["event_type"].value_counts(dropna=False)
        stage_of = config.event_stage
        report.events = [(str(e), int(n), stage_of.get(str(e))) for e, n in counts.items()]
        unknown = [e for e, _, s in report.events if s is None]
        if unknown:
            report.problems.append(f"sales: {len(unknown)} event name(s) are listed under no stage in stages.yaml: "
                                   f"{', '.join(map(repr, unknown[:15]))}{' ...' if len(unknown) > 15 else ''}")
    surveys = frames.get("surveys")
    if surveys is not None and "question" in surveys.columns:
        lookup = config.question_stage_metric
        counts = surveys["question"].value_counts(dropna=False)
        text_items = set(config.sources["surveys"].text_questions)
        report.questions = [(str(q), int(n), *(lookup.get(str(q)) or (("(comment)", "text") if str(q) in text_items else (None, None))))
                            for q, n in counts.items()]
        unknown = [q for q, _, s, _ in report.questions if s is None]
        if unknown:
            report.problems.append(f"surveys: question id(s) listed under no stage in stages.yaml: {', '.join(map(repr, unknown[:15]))}")

    if not report.problems or all(n in frames for n in config.sources):
        inputs = Inputs(**{n: f for n, f in frames.items() if n in ("surveys", "reviews", "sales", "customers")})
        try:
            with open_engine(config, kind="duckdb") as engine:
                views = register_inputs(engine, inputs)
                create_customers(engine, config, views)
                membership = assign_personas(engine, config.personas, str(config.files.get("personas", "personas.yaml")))
        except (RuleError, CjmError) as exc:
            report.problems.append(str(exc))
        else:
            counts = membership.counts
            report.personas = [(p.id, int(counts.get(p.id, 0))) for p in config.personas.personas]
            report.customers, report.unassigned = membership.customers, membership.unassigned
            for pid, n in report.personas:
                if n == 0 and membership.customers:
                    report.warnings.append(f"persona {pid!r} gets no customer in {period}: check its rule against the attribute values")
            if not membership.customers:
                report.warnings.append(f"no row of {period} names a customer: every persona is empty; only the `all` map counts texts")
    return report

