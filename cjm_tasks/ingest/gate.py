"""The validation gate: every source's checks, computed by the engine where the data is.

For each source the gate checks row counts, required columns not null, unique ids, canonical
types, finite numbers (no inf or NaN), value ranges (scores on their metric's scale, ratings 1-5
or on their configured scale, amounts >= 0), known stages, metrics, questions and event types, timestamps inside the period,
and rates that count no more numerator than denominator events; ``expectations.yaml`` sets
``min_rows``, ``mostly`` per check kind and extra expectations. Values the reader could not
convert (a word where a number belongs) are reported as failed ``types`` checks with the file and row.

The checks keep Great Expectations' vocabulary and semantics (expectation types, ``mostly``,
row conditions) but are SQL aggregates over each source's engine view, DuckDB or Spark
(:mod:`~cjm_tasks.ingest.checks`), so no source is held in memory for them; only an extra
expectation without an SQL form runs in GX itself (:mod:`~cjm_tasks.ingest.extras`).

The result is a :class:`GateResult`, saved as ``validation.json`` and ``validation.html``; any
failed check fails the gate (:class:`~cjm_tasks.errors.ValidationFailed`) before anything is built.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cjm_tasks.clock import stamp
from cjm_tasks.engine.sql import ident, lit
from cjm_tasks.errors import ValidationFailed
from cjm_tasks.ingest.canonical import ID_COLUMN, SCHEMAS, TIMESTAMP_COLUMN, SourceData
from cjm_tasks.ingest.checks import FLOAT_TYPES, Check, Rule, between, in_set, measure
from cjm_tasks.ingest.extras import Extra, load_extras, run_with_gx, translate
from cjm_tasks.periods import Period

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig, SourceExpectations
    from cjm_tasks.engine.base import Engine
    from cjm_tasks.storage import Storage

log = logging.getLogger(__name__)

# The largest finite double: a value above it (in absolute value) is infinite or NaN.
FLOAT_MAX = "1.7976931348623157e308"


@dataclass
class SourceResult:
    source: str
    rows: int
    rows_outside_period: int
    files: list[dict[str, Any]]
    checks: list[Check]

    @property
    def success(self) -> bool:
        return all(c.success for c in self.checks)


@dataclass
class GateResult:
    """Every source's checks for one period."""

    period: str
    created_at: str
    sources: dict[str, SourceResult]

    @property
    def success(self) -> bool:
        return all(s.success for s in self.sources.values())

    @property
    def failures(self) -> list[Check]:
        return [c for s in self.sources.values() for c in s.checks if not c.success]

    @property
    def check_count(self) -> int:
        return sum(len(s.checks) for s in self.sources.values())

    def summary(self) -> str:
        """Failed checks, one line each (or a one-line pass)."""
        if self.success:
            return f"{self.period}: all {self.check_count} checks passed on {', '.join(self.sources)}"
        return "\n".join(f"  - {c.line()}" for c in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "created_at": self.created_at,
            "success": self.success,
            "checks": self.check_count,
            "failed": len(self.failures),
            "sources": {name: {**asdict(s), "success": s.success} for name, s in self.sources.items()},
        }


def validate_sources(data: dict[str, SourceData], config: CjmConfig, period: Period | None, engine: Engine) -> GateResult:
    """Run the gate on every source read for ``period``; each source of ``data`` must be a view of
    ``engine`` named after it (:func:`~cjm_tasks.engine.inputs.register_sources`). Never raises on
    failed checks; raises :class:`~cjm_tasks.errors.ConfigError` for an extra expectation GX does
    not know or whose kwargs it refuses, before any query runs."""
    extras = load_extras(config, list(data))
    results: dict[str, SourceResult] = {}
    for name, source in data.items():
        started = time.perf_counter()
        columns = engine.columns(name)
        plan = _plan(name, source, columns, config, period, extras.get(name, []), engine)
        counts = _event_counts(config) if name == "sales" and "event_type" in columns else {}
        measured, counted = measure(engine, name, [p for p in plan if isinstance(p, Rule)], columns, source.locate, counts)
        by_gx = [p for p in plan if isinstance(p, Extra)]
        from_gx = iter(run_with_gx(engine, name, by_gx, columns, source.locate) if by_gx else [])
        from_engine = iter(measured)
        checks = [next(from_engine) if isinstance(p, Rule) else next(from_gx) for p in plan]
        if source.records is not None:
            checks.insert(0, _record_count_check(name, source, config))
        checks[1:1] = _conversion_checks(name, source, config)
        if counts and source.row_count:
            checks += _rate_checks(source, config, counted)
        results[name] = SourceResult(
            source=name,
            rows=source.row_count,
            rows_outside_period=source.rows_outside_period,
            files=[asdict(f) for f in source.files],
            checks=checks,
        )
        log.info("gate on %s (%s): %d checks, %d failed, %.2f s", name, engine.name, len(checks),
                 sum(not c.success for c in checks), time.perf_counter() - started)
    return GateResult(period=str(period) if period else "all", created_at=stamp(), sources=results)


def _mostly(expect: SourceExpectations, kind: str) -> float:
    return expect.mostly.get(kind, 1.0)


def _plan(name: str, source: SourceData, columns: dict[str, str], config: CjmConfig, period: Period | None,
          extras: list[Extra], engine: Engine) -> list[Rule | Extra]:
    """One source's checks in report order: the built-in rules, then its extra expectations (an
    engine rule each, or the extra itself for GX to run), then the rating scale check."""
    expect: SourceExpectations = getattr(config.expectations, name)
    schema = SCHEMAS[name]
    plan: list[Rule | Extra] = []

    def add(kind: str, column: str | None, description: str, expectation: str, metric: str, **how: Any) -> None:
        plan.append(Rule(kind, column, description, expectation, metric, **how))  # type: ignore[arg-type]

    bounds = f"at least {expect.min_rows}" + (f" and at most {expect.max_rows}" if expect.max_rows else "")
    if source.records is None:
        add("row_count", None, f"expected {bounds} rows", "expect_table_row_count_to_be_between", "row_count",
            bounds=(expect.min_rows, expect.max_rows, False, False))
    for column, spec in schema.items():
        if spec.required and column in columns:
            add("not_null", column, "expected no empty values", "expect_column_values_to_not_be_null", "nulls",
                mostly=_mostly(expect, "not_null"))
    add("unique", ID_COLUMN[name], "expected unique ids", "expect_column_values_to_be_unique", "unique", mostly=_mostly(expect, "unique"))
    for column, spec in schema.items():
        # Timestamps are not type-checked: the reader converts them and reports what does not
        # parse as a `types` issue; a number column must have reached the view as a float.
        if spec.kind == "float" and column in columns:
            add("types", column, "expected numbers", "expect_column_values_to_be_in_type_list", "type", types=FLOAT_TYPES)
            if columns[column].upper() in FLOAT_TYPES:
                # inf passes `amount >= 0` and NaN sorts above every number: neither is a value.
                # Both engines order NaN above infinity, so one comparison finds all three.
                add("types", column, "expected finite numbers (not inf, -inf or NaN)", "cjm_values_finite", "values",
                    mostly=_mostly(expect, "types"), unexpected=f"abs({ident(column)}) > {FLOAT_MAX}")

    range_mostly, set_mostly = _mostly(expect, "range"), _mostly(expect, "in_set")
    stage_ids = config.stage_ids
    between_values, in_values = "expect_column_values_to_be_between", "expect_column_values_to_be_in_set"
    if name == "surveys":
        for metric, (low, high) in config.metrics.scales.items():
            add("range", "score", f"expected {metric} scores between {low:g} and {high:g}", between_values, "values", mostly=range_mostly,
                unexpected=between(ident("score"), float(low), float(high)), condition=f"{ident('metric')} = {lit(metric)}")
        add("in_set", "stage", f"expected a stage of stages.yaml ({', '.join(stage_ids)})", in_values, "values",
            mostly=set_mostly, unexpected=in_set("stage", stage_ids))
        add("in_set", "metric", f"expected a metric with a scale ({', '.join(config.metrics.scales)})", in_values, "values",
            mostly=set_mostly, unexpected=in_set("metric", list(config.metrics.scales)))
        if "question" in columns and config.question_stage_metric:
            add("in_set", "question", "expected a question listed under a stage in stages.yaml", in_values, "values",
                mostly=set_mostly, unexpected=in_set("question", sorted(config.question_stage_metric)))
    elif name == "reviews":
        if "rating_raw" not in columns:
            add("range", "rating", "expected ratings between 1 and 5 (set sources.reviews.scales.rating for another scale)",
                between_values, "values", mostly=range_mostly, unexpected=between(ident("rating"), 1.0, 5.0))
        if "stage" in columns:
            add("in_set", "stage", f"expected a stage of stages.yaml ({', '.join(stage_ids)})", in_values, "values",
                mostly=set_mostly, unexpected=in_set("stage", stage_ids))
    elif name == "sales":
        add("in_set", "event_type", "expected an event type listed under a stage in stages.yaml", in_values, "values",
            mostly=set_mostly, unexpected=in_set("event_type", sorted(config.event_stage)))
        if "amount" in columns:
            add("range", "amount", "expected amounts >= 0", between_values, "values", mostly=range_mostly,
                unexpected=between(ident("amount"), 0.0, None))

    ts = TIMESTAMP_COLUMN.get(name)
    if period is not None and ts in columns:
        tz = config.sources[name].timezone or config.project.timezone
        start, end = period.start(tz), period.end(tz)
        add("in_period", ts, f"expected timestamps in {period} [{start.isoformat()}, {end.isoformat()})", between_values, "values",
            mostly=_mostly(expect, "in_period"), unexpected=between(ident(ts), start, end, strict_high=True))

    for extra in extras:
        # An extra about a column this source does not have (an optional one) does not apply.
        if extra.column is not None and extra.column not in columns and extra.expectation != "expect_column_to_exist":
            continue
        plan.append(translate(extra, columns) or extra)

    if name == "reviews" and "rating_raw" in columns:
        plan.append(_rating_scale_rule(engine, config))
    return plan


def _rating_scale_rule(engine: Engine, config: CjmConfig) -> Rule:
    """Ratings inside the scale the configuration gives each row (``rating_low``..``rating_high``)."""
    low, high = ident("rating_low"), ident("rating_high")
    scales = engine.query(f"SELECT DISTINCT {low} AS low, {high} AS high FROM {ident('reviews')} ORDER BY low, high").to_pylist()
    described = ", ".join(f"{float(s['low']):g}-{float(s['high']):g}" for s in scales if s["low"] is not None and s["high"] is not None)
    raw = ident("rating_raw")
    return Rule("range", "rating", f"expected ratings on their scale ({described})", "cjm_rating_within_scale", "values",
                mostly=config.expectations.reviews.mostly.get("range", 1.0), unexpected=f"{raw} < {low} OR {raw} > {high}",
                values_of="rating_raw")


def _record_count_check(name: str, source: SourceData, config: CjmConfig) -> Check:
    """``min_rows`` of a melted or long export counts its own rows (responses, orders), not the
    rows they became: 20 responses of 5 questions are 20, not 100."""
    expect = getattr(config.expectations, name)
    found = int(source.records or 0)
    ok = found >= expect.min_rows and (expect.max_rows is None or found <= expect.max_rows)
    unit = "responses" if name == "surveys" else "rows of the export"
    bounds = f"at least {expect.min_rows}" + (f" and at most {expect.max_rows}" if expect.max_rows else "")
    return Check(source=name, kind="row_count", column=None,
                 description=f"expected {bounds} {unit} (min_rows counts the export's rows before they become one row per "
                             f"{'answer' if name == 'surveys' else 'event'}: {source.row_count})",
                 success=ok, expectation="cjm_records_between", observed=found)


def _conversion_checks(name: str, source: SourceData, config: CjmConfig) -> list[Check]:
    mostly = getattr(config.expectations, name).mostly.get("types", 1.0)
    # Counted over the rows the gate checks (the period's, when a longer export is cut).
    rows = max(source.row_count, 1)
    return [
        Check(
            source=name,
            kind="types",
            column=issue.column,
            description=f"expected {issue.expected}",
            success=issue.count / rows <= 1 - mostly,
            expectation="cjm_values_convertible",
            mostly=mostly,
            element_count=source.row_count,
            unexpected_count=issue.count,
            unexpected_percent=100 * issue.count / rows,
            sample_values=issue.samples,
            sample_rows=issue.rows,
        )
        for issue in source.issues
    ]


def _event_counts(config: CjmConfig) -> dict[str, str]:
    """The aggregates counting each event type a configured rate names."""
    names = sorted({event for stage in config.stages for spec in stage.rates.values() for event in (spec.numerator, spec.denominator)})
    return {event: f"count(CASE WHEN {ident('event_type')} = {lit(event)} THEN 1 END)" for event in names}


def _rate_checks(source: SourceData, config: CjmConfig, counts: dict[str, int]) -> list[Check]:
    """Every configured rate has no more numerator events than denominator events in the period.

    A rate counts the quarter's events of two types; when the numerator's events belong to
    orders of an earlier quarter (returns of last quarter's deliveries), it can exceed its
    denominator and the rate means nothing. The gate says so with the counts, before any map."""
    where = ", ".join(f.location for f in source.files)
    checks = []
    for stage in config.stages:
        for rate, spec in stage.rates.items():
            num, den = counts.get(spec.numerator, 0), counts.get(spec.denominator, 0)
            ok = num <= den
            checks.append(Check(
                source="sales", kind="rates", column="event_type",
                description=(f"rate {rate} ({stage.id}): expected at most as many {spec.numerator!r} events as {spec.denominator!r} events"
                             + ("" if ok else f" in the period, found {num} > {den}; count both for the same orders "
                                             f"(e.g. returns of this quarter's deliveries) or change the rate in stages.yaml")),
                success=ok, expectation="cjm_rate_numerator_within_denominator",
                observed={"numerator": num, "denominator": den},
                sample_rows=[] if ok else [where]))
    return checks


def write_gate_report(result: GateResult, storage: Storage, prefix: str) -> dict[str, str]:
    """Save ``validation.json`` and ``validation.html`` under ``prefix``; return their locations."""
    from cjm_tasks.site.render import render_template

    payload = json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str).encode()
    html = render_template("validation.html.j2", result=result, data=result.to_dict()).encode()
    storage.write_bytes(f"{prefix}/validation.json", payload, content_type="application/json")
    storage.write_bytes(f"{prefix}/validation.html", html, content_type="text/html; charset=utf-8")
    return {"json": storage.url(f"{prefix}/validation.json"), "html": storage.url(f"{prefix}/validation.html")}


def enforce(result: GateResult, report: str | None = None) -> None:
    """Raise :class:`ValidationFailed` with the failed checks when the gate did not pass."""
    if not result.success:
        raise ValidationFailed(result.summary(), report)
