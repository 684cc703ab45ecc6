"""The validation gate: a Great Expectations suite per source, built from the configuration.

For each source the suite checks row counts, required columns not null, unique ids, canonical
types, value ranges (scores on their metric's scale, ratings 1-5, amounts >= 0), known stages,
metrics, questions and event types, and timestamps inside the period; ``expectations.yaml`` sets
``min_rows``, ``mostly`` per check kind and extra expectations. Values the reader could not convert
(a word where a number belongs) are reported as failed ``types`` checks with the file and row.

The result is a :class:`GateResult`, saved as ``validation.json`` and ``validation.html``; any
failed check fails the gate (:class:`~cjm_tasks.errors.ValidationFailed`) before anything is built.
Great Expectations is imported inside :func:`validate_sources` only: it takes seconds to import.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cjm_tasks.clock import stamp
from cjm_tasks.errors import ConfigError, ValidationFailed
from cjm_tasks.periods import Period
from cjm_tasks.ingest.canonical import ID_COLUMN, SCHEMAS, TIMESTAMP_COLUMN, SourceData
from cjm_tasks.ingest.convert import clip

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig, SourceExpectations
    from cjm_tasks.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Check:
    """The outcome of one expectation on one source."""

    source: str
    kind: str
    column: str | None
    description: str
    success: bool
    expectation: str
    mostly: float | None = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: Any = None
    sample_values: list[Any] = field(default_factory=list)
    sample_rows: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        """One human line: what failed, how many rows, which values and where."""
        what = f"{self.source}.{self.column}" if self.column else self.source
        parts = [f"{what}: {self.description}"]
        if self.error:
            parts.append(f"could not be checked: {self.error}")
        elif self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} row(s) fail{pct}")
        elif self.observed is not None:
            parts.append(f"observed {self.observed}")
        if self.sample_values:
            parts.append("e.g. " + ", ".join(repr(clip(v)) if isinstance(v, str) else repr(v) for v in self.sample_values[:5]))
        if self.sample_rows:
            parts.append("at " + "; ".join(self.sample_rows[:3]))
        return " - ".join(parts)


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


def _mostly(expect: SourceExpectations, kind: str) -> float:
    return expect.mostly.get(kind, 1.0)


def build_suite(name: str, data: SourceData, config: CjmConfig, period: Period | None) -> list[tuple[str, str | None, str, Any]]:
    """The expectations for one source: ``[(kind, column, description, gx expectation)]``."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    expect: SourceExpectations = getattr(config.expectations, name)
    columns = set(data.frame.columns)
    schema = SCHEMAS[name]
    out: list[tuple[str, str | None, str, Any]] = []

    def add(kind: str, column: str | None, description: str, expectation: Any) -> None:
        out.append((kind, column, description, expectation))

    bounds = f"at least {expect.min_rows}" + (f" and at most {expect.max_rows}" if expect.max_rows else "")
    if data.records is None:
        add("row_count", None, f"expected {bounds} rows", gxe.ExpectTableRowCountToBeBetween(min_value=expect.min_rows, max_value=expect.max_rows))
    for column, spec in schema.items():
        if spec.required and column in columns:
            add("not_null", column, "expected no empty values", gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=_mostly(expect, "not_null")))
    add("unique", ID_COLUMN[name], "expected unique ids", gxe.ExpectColumnValuesToBeUnique(column=ID_COLUMN[name], mostly=_mostly(expect, "unique")))
    for column, spec in schema.items():
        if column not in columns:
            continue
        # Timestamps are not type-checked here: GX's pandas type check cannot match a tz-aware
        # dtype, and the reader already converts them and reports unparseable values as `types`.
        if spec.kind == "float":
            add("types", column, "expected numbers", gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=["float64", "Float64"]))

    range_mostly = _mostly(expect, "range")
    set_mostly = _mostly(expect, "in_set")
    stage_ids = config.stage_ids
    if name == "surveys":
        for metric, (low, high) in config.metrics.scales.items():
            add("range", "score", f"expected {metric} scores between {low:g} and {high:g}",
                gxe.ExpectColumnValuesToBeBetween(column="score", min_value=low, max_value=high, mostly=range_mostly,
                                                  row_condition=Column("metric") == metric))
        add("in_set", "stage", f"expected a stage of stages.yaml ({', '.join(stage_ids)})",
            gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=stage_ids, mostly=set_mostly))
        add("in_set", "metric", f"expected a metric with a scale ({', '.join(config.metrics.scales)})",
            gxe.ExpectColumnValuesToBeInSet(column="metric", value_set=list(config.metrics.scales), mostly=set_mostly))
        if "question" in columns and config.question_stage_metric:
            add("in_set", "question", "expected a question listed under a stage in stages.yaml",
                gxe.ExpectColumnValuesToBeInSet(column="question", value_set=sorted(config.question_stage_metric), mostly=set_mostly))
    elif name == "reviews":
        if "rating_raw" not in columns:
            add("range", "rating", "expected ratings between 1 and 5 (set sources.reviews.scales.rating for another scale)",
                gxe.ExpectColumnValuesToBeBetween(column="rating", min_value=1, max_value=5, mostly=range_mostly))
        if "stage" in columns:
            add("in_set", "stage", f"expected a stage of stages.yaml ({', '.join(stage_ids)})",
                gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=stage_ids, mostly=set_mostly))
    elif name == "sales":
        events = sorted(config.event_stage)
        add("in_set", "event_type", "expected an event type listed under a stage in stages.yaml",
            gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=events, mostly=set_mostly))
        if "amount" in columns:
            add("range", "amount", "expected amounts >= 0",
                gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, mostly=range_mostly))

    ts = TIMESTAMP_COLUMN.get(name)
    if period is not None and ts in columns:
        tz = config.sources[name].timezone or config.project.timezone
        start, end = period.start(tz), period.end(tz)
        add("in_period", ts, f"expected timestamps in {period} [{start.isoformat()}, {end.isoformat()})",
            gxe.ExpectColumnValuesToBeBetween(column=ts, min_value=start.isoformat(), max_value=end.isoformat(), strict_max=True,
                                              mostly=_mostly(expect, "in_period")))

    for i, extra in enumerate(expect.extra):
        cls_name = "".join(part.title() for part in extra.expectation.split("_"))
        cls = getattr(gxe, cls_name, None)
        where = f"{name}.extra[{i}]"
        if cls is None:
            raise ConfigError(str(config.files["expectations"]), f"{where}.expectation",
                              f"{extra.expectation!r} is not a Great Expectations 1.x expectation")
        column = extra.kwargs.get("column")
        if column is not None and column not in columns:
            continue
        try:
            add("extra", column, extra.expectation, cls(**extra.kwargs))
        except Exception as exc:  # GX raises pydantic errors of its own for bad kwargs
            raise ConfigError(str(config.files["expectations"]), f"{where}.kwargs", f"not accepted by {extra.expectation}: {exc}") from None
    return out


def validate_sources(data: dict[str, SourceData], config: CjmConfig, period: Period | None) -> GateResult:
    """Run the gate on every source read for ``period``; never raises on failed checks."""
    _quiet_gx()
    import great_expectations as gx

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_pandas("cjm")
    results: dict[str, SourceResult] = {}
    for name, source in data.items():
        suite_items = build_suite(name, source, config, period)
        suite = context.suites.add(gx.ExpectationSuite(name=f"cjm_{name}"))
        for n, (_, _, _, expectation) in enumerate(suite_items):
            # GX does not return results in suite order: tag each expectation to find its result.
            expectation.meta = {**(expectation.meta or {}), "cjm_check": n}
            suite.add_expectation(expectation)
        batch = datasource.add_dataframe_asset(name).add_batch_definition_whole_dataframe("period")
        validation = context.validation_definitions.add(gx.ValidationDefinition(name=f"cjm_{name}_{period}", data=batch, suite=suite))
        outcome = validation.run(
            batch_parameters={"dataframe": source.frame},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
        by_tag = {r.expectation_config.meta["cjm_check"]: r for r in outcome.results}
        checks = [_check(name, item, by_tag[n], source) for n, item in enumerate(suite_items)]
        if source.records is not None:
            checks.insert(0, _record_count_check(name, source, config))
        checks[1:1] = _conversion_checks(name, source, config)
        if name == "reviews" and "rating_raw" in source.frame.columns:
            checks.append(_rating_scale_check(source, config))
        if name == "sales":
            checks += _rate_checks(source, config)
        results[name] = SourceResult(
            source=name,
            rows=len(source.frame),
            rows_outside_period=source.rows_outside_period,
            files=[asdict(f) for f in source.files],
            checks=checks,
        )
    return GateResult(period=str(period) if period else "all", created_at=stamp(), sources=results)


def _quiet_gx() -> None:
    # GX logs hundreds of INFO lines (and "Calculating Metrics" bars) per run; keep the task log readable.
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations  # noqa: F401  (its import configures loggers of its own)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _check(name: str, item: tuple[str, str | None, str, Any], result: Any, source: SourceData) -> Check:
    kind, column, description, expectation = item
    doc = result.to_json_dict()
    res = doc.get("result") or {}
    exception = (doc.get("exception_info") or {})
    error = exception.get("exception_message") if exception.get("raised_exception") else None
    indices = res.get("partial_unexpected_index_list") or []
    rows = [source.locate(int(i)) for i in indices[:5] if isinstance(i, (int, float))]
    return Check(
        source=name,
        kind=kind,
        column=column,
        description=description,
        success=bool(doc["success"]),
        expectation=doc["expectation_config"]["type"],
        mostly=doc["expectation_config"]["kwargs"].get("mostly"),
        element_count=res.get("element_count"),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=res.get("unexpected_percent"),
        observed=_plain(res.get("observed_value")),
        sample_values=[_short(_plain(v)) for v in (res.get("partial_unexpected_list") or [])[:5]],
        sample_rows=rows,
        error=error,
    )


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
                             f"{'answer' if name == 'surveys' else 'event'}: {len(source.frame)})",
                 success=ok, expectation="cjm_records_between", observed=found)


def _rating_scale_check(source: SourceData, config: CjmConfig) -> Check:
    """Ratings inside the scale the configuration gives each row."""
    frame = source.frame
    raw, low, high = frame["rating_raw"], frame["rating_low"], frame["rating_high"]
    bad = raw.notna() & ((raw < low) | (raw > high))
    mostly = config.expectations.reviews.mostly.get("range", 1.0)
    n, count = int(raw.notna().sum()), int(bad.sum())
    scales = sorted({(float(lo), float(hi)) for lo, hi in zip(low, high)})
    described = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in scales)
    positions = list(frame.index[bad.to_numpy()][:5])
    return Check(source="reviews", kind="range", column="rating", description=f"expected ratings on their scale ({described})",
                 success=(count / max(n, 1)) <= 1 - mostly, expectation="cjm_rating_within_scale", mostly=mostly,
                 element_count=n, unexpected_count=count, unexpected_percent=100 * count / max(n, 1),
                 sample_values=[clip(v) for v in raw[bad].head(5)], sample_rows=[source.locate(int(p)) for p in positions])


def _conversion_checks(name: str, source: SourceData, config: CjmConfig) -> list[Check]:
    mostly = getattr(config.expectations, name).mostly.get("types", 1.0)
    # Counted over the rows the gate checks (the period's, when a longer export is cut).
    rows = max(len(source.frame), 1)
    return [
        Check(
            source=name,
            kind="types",
            column=issue.column,
            description=f"expected {issue.expected}",
            success=issue.count / rows <= 1 - mostly,
            expectation="cjm_values_convertible",
            mostly=mostly,
            element_count=len(source.frame),
            unexpected_count=issue.count,
            unexpected_percent=100 * issue.count / rows,
            sample_values=issue.samples,
            sample_rows=issue.rows,
        )
        for issue in source.issues
    ]


def _rate_checks(source: SourceData, config: CjmConfig) -> list[Check]:
    """Every configured rate has no more numerator events than denominator events in the period.

    A rate counts the quarter's events of two types; when the numerator's events belong to
    orders of an earlier quarter (returns of last quarter's deliveries), it can exceed its
    denominator and the rate means nothing. The gate says so with the counts, before any map."""
    frame = source.frame
    if "event_type" not in frame.columns or frame.empty:
        return []
    counts = frame["event_type"].value_counts()
    where = ", ".join(f.location for f in source.files)
    checks = []
    for stage in config.stages:
        for rate, spec in stage.rates.items():
            num, den = int(counts.get(spec.numerator, 0)), int(counts.get(spec.denominator, 0))
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


def _short(value: Any) -> Any:
    """Long texts (a review pasted into an id column) cut to a readable length."""
    return clip(value) if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    """JSON-safe form of a value GX reports."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


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
