"""Expectations computed where the data is: each check of the gate is a :class:`Rule` that the
engine (DuckDB or Spark) computes with SQL aggregates over a source's view.

Great Expectations' own SQL path cannot run on DuckDB (GX 1.x closes the connection before it
fetches, GX issue 10738) and its pandas path needs every row in memory. So a rule keeps GX's
vocabulary (its expectation type, ``mostly``, a row condition) and :func:`measure` computes GX's
metrics for it: the rows it considers (``element_count``), the non-null ones, the unexpected ones,
and up to five unexpected values with their ``__row`` positions ("file, data row N"). Success and
percentages follow GX's formulas, denominators included (:func:`_map_check`).

One aggregate query per source computes every count; a rule with unexpected rows costs one more
small query for its samples, and a uniqueness rule one more to count the duplicated rows (on
DuckDB only when its distinct hashes fall short of its non-null values).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from cjm_tasks.engine.sql import ident, lit
from cjm_tasks.ingest.canonical import ROW_COLUMN
from cjm_tasks.ingest.convert import clip

if TYPE_CHECKING:
    from cjm_tasks.engine.base import Engine

SAMPLES = 5  # GX's partial_unexpected_count, as the gate asked of GX

# Column types as the engines name them (DuckDB's upper case, Spark's lower case), by kind.
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
_NUMBER_TYPES = FLOAT_TYPES + ("TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                               "UINTEGER", "UBIGINT", "BYTE", "SHORT", "LONG")


def type_kind(engine_type: str) -> Literal["text", "number", "time", "other"]:
    """The kind of an engine column type: text, number, time (an instant or a local timestamp) or other."""
    name = engine_type.upper()
    if name in ("VARCHAR", "STRING") or name.startswith("VARCHAR("):
        return "text"
    if name in _NUMBER_TYPES or name.startswith("DECIMAL"):
        return "number"
    if name.startswith("TIMESTAMP"):
        return "time"
    return "other"


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


@dataclass(frozen=True)
class Rule:
    """One expectation as the engine computes it.

    ``metric`` says how: ``nulls`` (GX's not-null: every row of the domain counts), ``values``
    (a column map expectation: non-null values for which ``unexpected``, an SQL predicate, holds),
    ``unique`` (non-null values that occur more than once), ``row_count`` (``bounds``: min, max,
    strict min, strict max), ``type`` (the view's column type among ``types``) or ``exists`` (the
    column is in the view, at ``bounds[0]`` when given). ``condition`` is GX's row condition as
    SQL: the rows the expectation looks at. ``values_of`` is the column counted and sampled when it
    is not the one reported (a rating reported as ``rating`` is checked on its raw value).
    """

    kind: str
    column: str | None
    description: str
    expectation: str
    metric: Literal["nulls", "values", "unique", "row_count", "type", "exists"]
    mostly: float = 1.0
    unexpected: str | None = None
    condition: str | None = None
    bounds: tuple[Any, Any, bool, bool] | None = None
    types: tuple[str, ...] = ()
    values_of: str | None = None

    @property
    def measured(self) -> str:
        return self.values_of or self.column or ""


def measure(engine: Engine, view: str, rules: list[Rule], columns: dict[str, str], locate: Callable[[int], str],
            counts: dict[str, str] | None = None) -> tuple[list[Check], dict[str, int]]:
    """Compute ``rules`` on ``view`` (whose columns and engine types are ``columns``).

    ``counts`` are more named aggregates the caller needs (SQL expressions), computed in the same
    query. Returns one :class:`Check` per rule, in order (``source`` set to ``view``, the source's
    name), and the value of each of ``counts``. ``locate`` turns a ``__row`` into "file, data row N".
    Raises :class:`~cjm_tasks.engine.EngineError` when a query fails.
    """
    aggregates: dict[str, str] = {"count(*)": "n"}

    def agg(sql: str) -> str:
        return aggregates.setdefault(sql, f"m{len(aggregates)}")

    names: list[dict[str, str]] = []
    for rule in rules:
        if rule.metric in ("nulls", "values", "unique") and rule.measured in columns:
            c = ident(rule.measured)
            where = f"({rule.condition}) AND " if rule.condition else ""
            got = {"domain": agg(f"count(CASE WHEN {rule.condition} THEN 1 END)") if rule.condition else "n",
                   "nonnull": agg(f"count(CASE WHEN {where}{c} IS NOT NULL THEN 1 END)" if rule.condition else f"count({c})")}
            if rule.metric == "values":
                got["unexpected"] = agg(f"count(CASE WHEN {where}{c} IS NOT NULL AND ({rule.unexpected}) THEN 1 END)")
            elif rule.metric == "unique" and engine.name == "duckdb":
                # As many distinct hashes as values prove the values unique, in about a quarter
                # less time than distinct values (a hash table of integers); fewer (a duplicate,
                # or two values with one hash) and the duplicated rows are counted exactly. Not
                # on Spark: its hash() has 32 bits, so millions of ids always share some, and its
                # plan for a distinct count beside other aggregates doubles the rows; it groups by id.
                hashed = f"CASE WHEN {rule.condition} THEN hash({c}) END" if rule.condition else f"hash({c})"
                got["distinct"] = agg(f"count(DISTINCT {hashed})")
            names.append(got)
        else:
            names.append({})
    extra = {name: agg(sql) for name, sql in (counts or {}).items()}
    select = ", ".join(f"{sql} AS {alias}" for sql, alias in aggregates.items())
    row = {k: int(v or 0) for k, v in engine.query(f"SELECT {select} FROM {ident(view)}").to_pylist()[0].items()}

    checks = []
    for rule, got in zip(rules, names):
        if rule.metric in ("nulls", "values", "unique") and not got:
            # As GX reports an expectation on a missing column: not checked, so not passed.
            checks.append(Check(source=view, kind=rule.kind, column=rule.column, description=rule.description, success=False,
                                expectation=rule.expectation, mostly=_reported_mostly(rule),
                                error=f"column {rule.measured!r} is not in {view} (columns: {', '.join(c for c in columns if c != ROW_COLUMN)})"))
        elif rule.metric in ("nulls", "values", "unique"):
            domain, nonnull = row[got["domain"]], row[got["nonnull"]]
            if rule.metric == "nulls":
                unexpected = domain - nonnull
            elif rule.metric == "values":
                unexpected = row[got["unexpected"]]
            else:
                unexpected = _duplicated_rows(engine, view, rule) if row.get(got.get("distinct", ""), -1) < nonnull else 0
            samples = _samples(engine, view, rule) if unexpected else []
            checks.append(_map_check(view, rule, domain, nonnull, unexpected, samples, locate))
        else:
            checks.append(_table_check(view, rule, row["n"], columns))
    return checks, {name: row[alias] for name, alias in extra.items()}


def _unexpected_rows(rule: Rule, view: str) -> str:
    """The SQL condition that picks a rule's unexpected rows."""
    c = ident(rule.measured)
    where = f"({rule.condition}) AND " if rule.condition else ""
    if rule.metric == "nulls":
        return f"{where}{c} IS NULL"
    if rule.metric == "unique":
        return f"{where}{c} IN (SELECT {c} FROM {ident(view)} WHERE {where}{c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)"
    return f"{where}{c} IS NOT NULL AND ({rule.unexpected})"


def _duplicated_rows(engine: Engine, view: str, rule: Rule) -> int:
    """Rows whose value occurs more than once (GX counts every copy, the first one too)."""
    c = ident(rule.measured)
    where = f"({rule.condition}) AND " if rule.condition else ""
    table = engine.query(f"SELECT sum(copies) AS duplicated_rows FROM (SELECT count(*) AS copies FROM {ident(view)} "
                         f"WHERE {where}{c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1) AS duplicated")
    return int(table.column(0)[0].as_py() or 0)


def _samples(engine: Engine, view: str, rule: Rule) -> list[tuple[Any, int]]:
    """The first unexpected values (in the input's row order, as GX lists them) with their ``__row``."""
    row = ident(ROW_COLUMN)
    table = engine.query(f"SELECT {ident(rule.measured)} AS value, {row} AS position FROM {ident(view)} "
                         f"WHERE {_unexpected_rows(rule, view)} ORDER BY {row} LIMIT {SAMPLES}")
    return list(zip(_python_values(table.column("value")), (int(p) for p in table.column("position").to_pylist())))


def _python_values(values) -> list[Any]:
    """Arrow values as Python values; a timestamp past Python's year 9999 (a damaged file's
    garbage, say) as the text Arrow writes for it, rather than an OverflowError."""
    try:
        return values.to_pylist()
    except (OverflowError, ValueError):
        import pyarrow as pa

        out = []
        for i in range(len(values)):
            try:
                out.append(values[i].as_py())
            except (OverflowError, ValueError):
                out.append(values.slice(i, 1).cast(pa.string())[0].as_py())
        return out


def _reported_mostly(rule: Rule) -> float | None:
    # GX leaves a default mostly (1) out of an expectation's kwargs; the gate's own checks always say it.
    return None if rule.expectation.startswith("expect_") and rule.mostly == 1 else rule.mostly


def _map_check(view: str, rule: Rule, domain: int, nonnull: int, unexpected: int, samples: list[tuple[Any, int]],
               locate: Callable[[int], str]) -> Check:
    """GX's result of a column map expectation (``ColumnMapExpectation._validate`` and
    ``_format_map_output``): not-null counts every row of the domain; the others count non-null
    values only, and pass vacuously on no rows or no non-null value."""
    if rule.metric == "nulls":
        success = domain == 0 or (domain - unexpected) / domain >= rule.mostly
        percent = 100 * unexpected / domain if domain else None
    else:
        success = domain == 0 or nonnull == 0 or (nonnull - unexpected) / nonnull >= rule.mostly
        percent = 100 * unexpected / nonnull if domain and nonnull else None
    return Check(source=view, kind=rule.kind, column=rule.column, description=rule.description, success=success,
                 expectation=rule.expectation, mostly=_reported_mostly(rule), element_count=domain,
                 unexpected_count=unexpected, unexpected_percent=percent,
                 sample_values=[plain(v) for v, _ in samples], sample_rows=[locate(p) for _, p in samples])


def _table_check(view: str, rule: Rule, rows: int, columns: dict[str, str]) -> Check:
    """A table expectation: the row count between bounds, a column's type, a column present."""
    observed: Any = None
    if rule.metric == "row_count":
        low, high, strict_low, strict_high = rule.bounds or (None, None, False, False)
        observed = rows
        success = (low is None or (rows > low if strict_low else rows >= low)) and \
                  (high is None or (rows < high if strict_high else rows <= high))
    elif rule.metric == "type":
        observed = columns.get(rule.measured, "").upper() or None
        success = observed in rule.types
    else:
        names = [c for c in columns if c != ROW_COLUMN]
        index = rule.bounds[0] if rule.bounds else None
        success = rule.measured in names and (index is None or names.index(rule.measured) == index)
    return Check(source=view, kind=rule.kind, column=rule.column, description=rule.description, success=success,
                 expectation=rule.expectation, mostly=None, observed=observed)


def plain(value: Any) -> Any:
    """A value as the report shows it: JSON-safe, timestamps in ISO 8601, long texts cut short."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf, -inf, nan: JSON has no such numbers (and nan never equals itself)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def in_set(column: str, values: list[Any]) -> str:
    """SQL true for a value of ``column`` outside ``values`` (every value is outside an empty set)."""
    return f"{ident(column)} NOT IN {lit(values)}" if values else "TRUE"


def between(expression: str, low: Any, high: Any, strict_low: bool = False, strict_high: bool = False) -> str:
    """SQL true for a value of ``expression`` outside [low, high] (open ends where strict; no bound where None)."""
    outside = []
    if low is not None:
        outside.append(f"{expression} {'<=' if strict_low else '<'} {lit(low)}")
    if high is not None:
        outside.append(f"{expression} {'>=' if strict_high else '>'} {lit(high)}")
    return " OR ".join(outside) or "FALSE"
