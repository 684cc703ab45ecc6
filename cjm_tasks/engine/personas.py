"""Customers and their personas, computed by the engine: one row per active customer with its
attributes and the features derived from the quarter's sales, and the persona rules of
personas.yaml as SQL predicates over it. The semantics are those documented in
:mod:`cjm_tasks.maps.personas` (conflicting attributes, derived features, operators, a missing
value failing every condition but ``is_null``); rules are data turned into SQL through quoted
literals, never evaluated as code.

Views created (in this order): ``cjm_customers`` (customer_id, attributes, features; a view over
the table ``cjm_customer_rows``) and ``cjm_members`` (customer_id, persona).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from cjm_tasks.config import AllRule, AnyRule, Condition, NotRule
from cjm_tasks.engine.sql import ident, lit
from cjm_tasks.maps.personas import ALL_PERSONA, ATTRIBUTE_SOURCES, RuleError

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig, PersonasFile
    from cjm_tasks.engine.base import Engine

log = logging.getLogger(__name__)

CUSTOMERS = "cjm_customers"
CUSTOMER_ROWS = "cjm_customer_rows"  # the table behind the ``cjm_customers`` view
MEMBERS = "cjm_members"
NUMERIC = ("double", "float", "real", "bigint", "int", "integer", "smallint", "tinyint", "hugeint", "decimal", "ubigint", "uinteger")


@dataclass
class PersonaCounts:
    """Active customers per persona (``all`` aside), those in no persona, and all considered."""

    counts: dict[str, int]
    unassigned: int
    customers: int


def active_customers_sql(views: dict[str, list[str]]) -> str:
    """Distinct customer ids with a row in any of sales, surveys, reviews (``views``: view -> columns)."""
    parts = [f"SELECT DISTINCT customer_id FROM {ident(v)} WHERE customer_id IS NOT NULL"
             for v in ("sales", "surveys", "reviews") if v in views and "customer_id" in views[v]]
    return " UNION ".join(parts) if parts else "SELECT CAST(NULL AS VARCHAR) AS customer_id WHERE FALSE"


@dataclass
class CustomerTable:
    """What :func:`create_customers` made: the columns of ``cjm_customers`` (customer_id first),
    and the (stage, event type) pairs the bits of ``cjm_sales_customers._pairs`` stand for, in bit
    order ([]: no sales; None: more pairs than bits, ``_pairs`` is NULL)."""

    columns: list[str]
    pairs: list[tuple[str, str]] | None


def create_customers(engine: Engine, config: CjmConfig, views: dict[str, list[str]]) -> CustomerTable:
    """Materialize ``cjm_customers``: every active customer with attributes and derived features."""
    attrs = _attribute_columns(config, views)
    features = _feature_sql(config, views, engine)
    pairs: list[tuple[str, str]] | None = []
    customers_cols = [c for c in views.get("customers", []) if c not in ("customer_id", "__row")]
    # One join per statement, each adding its columns as ``<alias>__<column>``: a statement with
    # all three hash joins (ten million customers each at ten times workload L) needs them built
    # at once, more than DuckDB's memory limit holds.
    steps: list[tuple[str, str, list[str]]] = []
    if features is None:
        engine.materialize("cjm_active", active_customers_sql(views))
    else:
        feature_cols, feature_sql, pairs = features
        _create_active_with_features(engine, views, feature_cols, feature_sql)
    if "customers" in views:
        # The first row of each customer; a customers file without repeated ids (the usual case) is
        # read as it is, without numbering its rows. Distinct hashes are counted (a quarter of the
        # time of distinct strings): two ids of one hash only send the file the numbered way.
        repeated = engine.query("SELECT count(*) - count(DISTINCT hash(customer_id)) AS n FROM customers "
                                "WHERE customer_id IS NOT NULL").column(0)[0].as_py()
        master = "cjm_master" if repeated else "cjm_master_rows"
        if repeated:
            engine.materialize(master, "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY __row) AS _n "
                                       "FROM customers WHERE customer_id IS NOT NULL) WHERE _n = 1")
        else:
            engine.execute(f"CREATE OR REPLACE TEMP VIEW {master} AS SELECT * FROM customers WHERE customer_id IS NOT NULL")
        steps.append(("c", master, customers_cols))
    latest_cols: list[str] = []
    if attrs:
        latest_cols = _create_latest_attributes(engine, attrs)
        steps.append(("l", "cjm_latest", latest_cols))
    current = "cjm_active"
    for i, (alias, source, cols) in enumerate(steps):
        added = ", ".join(f"{alias}.{ident(c)} AS {ident(f'{alias}__{c}')}" for c in cols)
        joined = CUSTOMER_ROWS if i == len(steps) - 1 else f"cjm_customers_{i}"
        engine.materialize(joined, f"SELECT p.*{', ' + added if added else ''} FROM {current} p "
                                   f"LEFT JOIN {source} {alias} ON {alias}.customer_id = p.customer_id")
        engine.drop(current)  # each table once the next is made (the customers, then their features)
        current = joined

    def ref(alias: str, col: str) -> str:
        return f"p.{ident(f'{alias}__{col}')}"

    selects = ["p.customer_id"]
    if features is not None:
        for col in features[0]:
            if col in ("event_count", "order_count"):
                # A customer without sales in the quarter made no events and no orders.
                selects.append(f"COALESCE({ref('f', col)}, 0) AS {col}")
            else:
                selects.append(f"{ref('f', col)} AS {col}")
    taken = {"customer_id", *(c.split(" AS ")[-1] for c in selects[1:])}
    for col in dict.fromkeys([*customers_cols, *latest_cols]):
        if col in taken:
            continue
        # The customers source is the master record: its filled values win.
        if col in customers_cols and col in latest_cols:
            selects.append(f"COALESCE(CAST({ref('c', col)} AS VARCHAR), {ref('l', col)}) AS {ident(col)}")
        elif col in customers_cols:
            selects.append(f"{ref('c', col)} AS {ident(col)}")
        else:
            selects.append(f"{ref('l', col)} AS {ident(col)}")
        taken.add(col)
    # A view: the last join's table renamed and its counts filled in (a copy of ten million
    # customers took 1.8 s at ten times workload L; the personas' rules read it a few times).
    engine.execute(f"CREATE OR REPLACE TEMP VIEW {CUSTOMERS} AS SELECT {', '.join(selects)} FROM {current} p")
    return CustomerTable(list(engine.columns(CUSTOMERS)), pairs)


def _create_active_with_features(engine: Engine, views: dict[str, list[str]], names: list[str], feature_sql: str) -> None:
    """``cjm_active``: every active customer with the features of its sales as ``f__<feature>``,
    as the first join of :func:`create_customers` would give them. The customers with sales are
    the rows of ``feature_sql`` as they are; the others (in surveys or reviews only) are found by
    an anti-join with the sales' customers and get no features. The union of every source's ids
    joined back to the features held two tables of ten million customers at ten times workload
    L and took 6.4 s there; this takes 4.8 s."""
    engine.execute(f"CREATE OR REPLACE TEMP VIEW cjm_features AS {feature_sql}")
    types = engine.columns("cjm_features")
    renamed = ", ".join(f"{ident(n)} AS {ident('f__' + n)}" for n in names)
    with_sales = f"SELECT customer_id, {renamed} FROM cjm_features"
    others = {v: c for v, c in views.items() if v in ("surveys", "reviews") and "customer_id" in c}
    if not others:  # no other source names customers
        engine.materialize("cjm_active", with_sales)
    else:
        empty = ", ".join(f"CAST(NULL AS {types[n]}) AS {ident('f__' + n)}" for n in names)
        engine.materialize("cjm_active", f"{with_sales} UNION ALL SELECT o.customer_id, {empty} FROM ({active_customers_sql(others)}) o "
                                         "LEFT JOIN cjm_sales_customers s ON s.customer_id = o.customer_id WHERE s.customer_id IS NULL")
    engine.drop("cjm_features")


def _attribute_columns(config: CjmConfig, views: dict[str, list[str]]) -> list[tuple[int, str, str, list[str]]]:
    """(rank, view, timestamp column, attributes) of every source that carries attributes."""
    found = []
    for rank, (name, ts) in enumerate(ATTRIBUTE_SOURCES):
        source = config.sources.get(name)
        if source is None or name not in views or "customer_id" not in views[name]:
            continue
        attrs = [a for a in (source.attributes or []) if a in views[name]]
        if attrs:
            found.append((rank, name, ts if ts in views[name] else "", attrs))
    return found


def _create_latest_attributes(engine: Engine, sources: list[tuple[int, str, str, list[str]]]) -> list[str]:
    """``cjm_latest``: per customer and attribute the latest dated filled value (ties: the
    earlier source of ATTRIBUTE_SOURCES), one column per attribute; numbers when every value is."""
    parts = []
    for rank, view, ts, attrs in sources:
        at = ident(ts) if ts else "CAST(NULL AS TIMESTAMPTZ)"
        for attr in attrs:
            value = f"CAST({ident(attr)} AS VARCHAR)"
            parts.append(f"SELECT customer_id, {lit(attr)} AS _attr, {value} AS _value, {at} AS _at, {-rank} AS _rank "
                         f"FROM {ident(view)} WHERE customer_id IS NOT NULL AND {value} IS NOT NULL AND trim({value}) <> ''")
    engine.materialize("cjm_attr_long", " UNION ALL ".join(parts))
    engine.materialize("cjm_attr_pick", "SELECT customer_id, _attr, _value FROM (SELECT *, row_number() OVER (PARTITION BY customer_id, _attr "
                                        "ORDER BY _at DESC NULLS LAST, _rank DESC, _value) AS _n FROM cjm_attr_long) WHERE _n = 1")
    names = list(dict.fromkeys(a for _, _, _, attrs in sources for a in attrs))
    numeric = engine.query("SELECT " + ", ".join(
        f"count(CASE WHEN _attr = {lit(a)} THEN _value END) = count(CASE WHEN _attr = {lit(a)} THEN TRY_CAST(_value AS DOUBLE) END) "
        f"AND count(CASE WHEN _attr = {lit(a)} THEN _value END) > 0 AS {ident(a)}" for a in names) + " FROM cjm_attr_pick").to_pylist()[0]
    columns = []
    for a in names:
        picked = f"max(CASE WHEN _attr = {lit(a)} THEN _value END)"
        columns.append(f"CAST({picked} AS DOUBLE) AS {ident(a)}" if numeric[a] else f"{picked} AS {ident(a)}")
    engine.materialize("cjm_latest", f"SELECT customer_id, {', '.join(columns)} FROM cjm_attr_pick GROUP BY customer_id")
    return names


MAX_BITS = 62  # stages, or (stage, event type) pairs, kept as bits of one BIGINT per customer
MAX_CHANNELS = 32  # channels counted per customer in one pass; more fall back to a grouped query


def _feature_sql(config: CjmConfig, views: dict[str, list[str]], engine: Engine, exact: bool = False
                 ) -> tuple[list[str], str, list[tuple[str, str]] | None] | None:
    """The derived features of every customer with sales in the quarter (their names, the query
    giving them, and the pairs of ``_pairs``; see :class:`CustomerTable`), or None without sales.

    Also materializes ``cjm_sales_customers``: one row per customer with sales, with the features
    and two bit sets the stage counts read (:mod:`cjm_tasks.engine.journey`): ``_stages`` (the
    stages reached) and ``_pairs`` (the (stage, event type) pairs done; NULL when the quarter has
    more pairs than bits). One pass over the sales rows.

    The pairs are first those of stages.yaml (each event type with its stage: what the reader
    gives when the sales carry no stage of their own), with no pass of their own; a pair the
    sales hold beyond them (a stage the file gives) is counted in the same pass, and then the
    quarter's own pairs are found and the pass made again (``exact``)."""
    if "sales" not in views:
        return None
    cols = views["sales"]
    order_events = list(config.order_events)
    selects = ["s.customer_id", "count(*) AS event_count", "min(s.occurred_at) AS first_seen", "max(s.occurred_at) AS last_seen"]
    names = ["event_count", "first_seen", "last_seen"]
    # Each row's stage bit, pair bit and channel number come from small lookup tables joined on
    # the row's labels: a hash probe per row, where CASE chains compared every label in turn (at
    # workload L the chains were 0.8 of this query's 1.4 s).
    lookups: list[str] = []
    if order_events:
        is_order = f"s.event_type IN {lit(order_events)}"
        amount = f"CASE WHEN {is_order} THEN CAST({'s.amount' if 'amount' in cols else '0.0'} AS DOUBLE) END"
        orders = f"count(CASE WHEN {is_order} THEN 1 END)"
        selects += [f"{orders} AS order_count", f"COALESCE(sum({amount}), 0.0) AS total_order_value",
                    f"CASE WHEN {orders} > 0 THEN COALESCE(sum({amount}), 0.0) / {orders} END AS avg_order_value"]
        names += ["order_count", "total_order_value", "avg_order_value"]
    if "stage" in cols and config.stage_ids:
        lookups.append(f"LEFT JOIN {_lookup([(sid, 1 << i) for i, sid in enumerate(config.stage_ids[:MAX_BITS])], ['_st', '_bit'])} sb "
                       "ON sb._st = s.stage")
        selects.append("COALESCE(bit_or(sb._bit), 0) AS _stages")
    else:
        selects.append("CAST(0 AS BIGINT) AS _stages")
    pairs = None if exact else _configured_pairs(config, cols)
    guessed = pairs is not None
    if not guessed:
        pairs = _sales_pairs(engine, cols)
    if pairs is not None and pairs:
        lookups.append(f"LEFT JOIN {_lookup([(st, ev, 1 << i) for i, (st, ev) in enumerate(pairs)], ['_st', '_ev', '_bit'])} pb "
                       "ON pb._st = s.stage AND pb._ev = s.event_type")
        selects.append("COALESCE(bit_or(pb._bit), 0) AS _pairs")
        if guessed:
            selects.append("count(CASE WHEN pb._bit IS NULL AND s.stage IS NOT NULL AND s.event_type IS NOT NULL THEN 1 END) AS _unpaired")
    else:
        selects.append("CAST(NULL AS BIGINT) AS _pairs")
    channels = _channels(engine, cols)
    if channels:
        lookups.append(f"LEFT JOIN {_lookup([(c, i) for i, c in enumerate(channels)], ['_ch', '_n'])} cb ON cb._ch = s.channel")
        counts = [f"count(CASE WHEN cb._n = {i} THEN 1 END)" for i in range(len(channels))]
        top = f"GREATEST({', '.join(counts)})" if len(counts) > 1 else counts[0]
        # The channel of most events, ties broken by name (channels are in name order).
        pick = " ".join(f"WHEN {n} = {top} THEN {lit(c)}" for n, c in zip(counts, channels))
        selects.append(f"CASE WHEN {top} = 0 THEN NULL {pick} END AS main_channel")
    engine.materialize("cjm_sales_customers", f"SELECT {', '.join(selects)} FROM sales s {' '.join(lookups)} "
                                              "WHERE s.customer_id IS NOT NULL GROUP BY s.customer_id")
    if guessed and pairs:
        unpaired = int(engine.query("SELECT COALESCE(sum(_unpaired), 0) AS n FROM cjm_sales_customers").column(0)[0].as_py())
        if unpaired:
            log.info("sales: %d rows pair a stage with an event type other than stages.yaml does; counting the quarter's own pairs", unpaired)
            return _feature_sql(config, views, engine, exact=True)
    if channels:
        names.append("main_channel")
    elif channels is None:
        main = ("SELECT customer_id, channel AS main_channel FROM (SELECT customer_id, channel, row_number() OVER (PARTITION BY customer_id "
                "ORDER BY count(*) DESC, channel) AS _n FROM sales WHERE customer_id IS NOT NULL AND channel IS NOT NULL "
                "GROUP BY customer_id, channel) WHERE _n = 1")
        columns = ", ".join(f"b.{n}" for n in names)
        return [*names, "main_channel"], (f"SELECT b.customer_id, {columns}, m.main_channel FROM cjm_sales_customers b "
                                          f"LEFT JOIN ({main}) m ON m.customer_id = b.customer_id"), pairs
    return names, f"SELECT customer_id, {', '.join(names)} FROM cjm_sales_customers", pairs


def _lookup(rows: list[tuple], names: list[str]) -> str:
    """A small constant table (``rows`` of literals, columns ``names``) to join on, as a subquery."""
    values = ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)
    return f"(SELECT * FROM (VALUES {values}) AS t({', '.join(names)}))"


def _configured_pairs(config: CjmConfig, cols: list[str]) -> list[tuple[str, str]] | None:
    """The (stage, event type) pairs of stages.yaml in the order of :func:`_sales_pairs` (None:
    none, or more than fit in a BIGINT). Pairs the quarter lacks cost nothing: each pair's
    customers are kept only where the quarter has its events (``journey._actions``)."""
    if not {"stage", "event_type"} <= set(cols):
        return None
    pairs = sorted({(stage, event) for event, stage in config.event_stage.items()})
    return pairs if 0 < len(pairs) <= MAX_BITS else None


def _sales_pairs(engine: Engine, cols: list[str]) -> list[tuple[str, str]] | None:
    """The (stage, event type) pairs of the quarter's sales in a fixed order (None: more than fit in a BIGINT)."""
    if not {"stage", "event_type"} <= set(cols):
        return []
    rows = engine.query("SELECT DISTINCT stage, event_type FROM sales WHERE stage IS NOT NULL AND event_type IS NOT NULL "
                        "ORDER BY stage, event_type").to_pylist()
    return [(r["stage"], r["event_type"]) for r in rows] if len(rows) <= MAX_BITS else None


def _channels(engine: Engine, cols: list[str]) -> list[str] | None:
    """The channels of the quarter's sales in name order ([]: no channel column; None: too many to count in one pass)."""
    if "channel" not in cols:
        return []
    rows = engine.query("SELECT DISTINCT channel FROM sales WHERE channel IS NOT NULL ORDER BY channel").column(0).to_pylist()
    return rows if len(rows) <= MAX_CHANNELS else None


def assign_personas(engine: Engine, personas: PersonasFile, file: str = "personas.yaml") -> PersonaCounts:
    """Materialize ``cjm_members`` (customer_id, persona) from ``cjm_customers`` and the rules
    (membership ``first``: the first matching persona in file order; ``all``: every one).
    Raises :class:`RuleError` naming the persona and the rule key when a rule cannot be applied."""
    total = int(engine.query(f"SELECT count(*) AS n FROM {CUSTOMERS}").column(0)[0].as_py())
    if total == 0:
        log.warning("no customer ids in this quarter: every persona is empty; the `all` map counts texts")
        engine.materialize(MEMBERS, _NO_MEMBERS)
        return PersonaCounts({}, 0, 0)
    types = {name: kind.lower() for name, kind in engine.columns(CUSTOMERS).items()}
    predicates = []
    checked: dict[str, int] = {}  # a text field's values that are not numbers, counted once for every rule
    for i, persona in enumerate(personas.personas):
        try:
            predicates.append((persona.id, _predicate(engine, persona.rule, types, f"personas[{i}].rule", checked)))
        except RuleError as exc:
            raise RuleError(exc.key or f"personas[{i}].rule", f"persona {persona.id!r}: {exc.detail}", file) from None
    # Each member also carries its persona's number (its place in the file, ALL_NUMBER for
    # ``all``): the stage counts group by it, as grouping ten million joined rows by a persona
    # id took three times as long at ten times workload L.
    if not predicates:
        engine.materialize(MEMBERS, _NO_MEMBERS)
    elif personas.membership == "first":
        case = " ".join(f"WHEN {p} THEN {i}" for i, (_, p) in enumerate(predicates))
        names = " ".join(f"WHEN {i} THEN {lit(pid)}" for i, (pid, _) in enumerate(predicates))
        engine.materialize(MEMBERS, f"SELECT customer_id, CASE persona_no {names} END AS persona, persona_no FROM "
                                    f"(SELECT customer_id, CAST(CASE {case} END AS SMALLINT) AS persona_no FROM {CUSTOMERS}) "
                                    "WHERE persona_no IS NOT NULL")
    else:
        engine.materialize(MEMBERS, " UNION ALL ".join(f"SELECT customer_id, {lit(pid)} AS persona, CAST({i} AS SMALLINT) AS persona_no "
                                                       f"FROM {CUSTOMERS} WHERE {p}" for i, (pid, p) in enumerate(predicates)))
    rows = engine.query(f"SELECT persona, count(*) AS n FROM {MEMBERS} GROUP BY persona").to_pylist()
    found = {r["persona"]: int(r["n"]) for r in rows}
    # With ``first`` a customer is in one persona at most: the members are the assigned customers.
    distinct = "count(*)" if personas.membership == "first" else "count(DISTINCT customer_id)"
    assigned = int(engine.query(f"SELECT {distinct} AS n FROM {MEMBERS}").column(0)[0].as_py())
    unassigned = total - assigned
    if unassigned:
        log.info("%d of %d customers match no persona", unassigned, total)
    return PersonaCounts({p.id: found[p.id] for p in personas.personas if p.id in found}, unassigned, total)


ALL_NUMBER = -1  # the persona number of ``all`` in the engine's counts
_NO_MEMBERS = ("SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS persona, CAST(NULL AS SMALLINT) AS persona_no "
               "WHERE FALSE")


def persona_numbers(personas: PersonasFile) -> dict[int, str]:
    """Persona id by the number ``cjm_members.persona_no`` gives it (``all``: ALL_NUMBER)."""
    return {**{i: p.id for i, p in enumerate(personas.personas)}, ALL_NUMBER: ALL_PERSONA}


def _predicate(engine: Engine, rule: Any, types: dict[str, str], where: str, checked: dict[str, int] | None = None) -> str:
    """``rule`` as an SQL predicate that is never NULL (a missing value fails a condition).
    ``checked``: what :func:`_comparable` counted of each field, kept between rules."""
    checked = {} if checked is None else checked
    if isinstance(rule, AllRule):
        return "(" + " AND ".join(["TRUE", *(_predicate(engine, r, types, f"{where}.all[{i}]", checked) for i, r in enumerate(rule.all))]) + ")"
    if isinstance(rule, AnyRule):
        return "(" + " OR ".join(["FALSE", *(_predicate(engine, r, types, f"{where}.any[{i}]", checked) for i, r in enumerate(rule.any))]) + ")"
    if isinstance(rule, NotRule):
        return f"(NOT {_predicate(engine, rule.not_, types, f'{where}.not', checked)})"
    if not isinstance(rule, Condition):
        raise RuleError(where, f"not a rule: {rule!r}")
    if rule.field not in types:
        available = ", ".join(sorted(c for c in types if c != "customer_id"))
        why = ("" if available else "; this quarter's data gives customers no attributes or features: add `attributes:` to a source "
               "or a customers source, or a sales source for derived features")
        raise RuleError(f"{where}.field", f"{rule.field!r} is not a customer attribute or derived feature "
                        f"(available: {available or 'none'}){why}")
    column, kind = ident(rule.field), _kind(types[rule.field])
    op, value = rule.op, rule.value
    if op == "is_null":
        return f"({column} IS NULL)" if value in (None, True) else f"({column} IS NOT NULL)"
    try:
        if op in ("lt", "le", "gt", "ge", "between"):
            values = value if op == "between" else [value]
            column, values = _comparable(engine, rule.field, column, kind, values, checked)
            if op == "between":
                expr = f"{column} BETWEEN {values[0]} AND {values[1]}"
            else:
                expr = f"{column} {dict(lt='<', le='<=', gt='>', ge='>=')[op]} {values[0]}"
        elif op in ("eq", "ne"):
            expr = f"{column} {'=' if op == 'eq' else '<>'} {_like(kind, value)}"
        elif op in ("in", "not_in"):
            listed = "(" + ", ".join(_like(kind, v) for v in value) + ")"
            expr = f"{column} {'IN' if op == 'in' else 'NOT IN'} {listed}"
        elif op == "contains":
            expr = f"contains(lower(CAST({column} AS VARCHAR)), {lit(str(value).lower())})"
        else:  # pragma: no cover - the config model admits no other operator
            raise RuleError(f"{where}.op", f"unknown operator {op!r}")
    except (TypeError, ValueError) as exc:
        raise RuleError(where, f"cannot compare {rule.field!r} ({types[rule.field]}) with {value!r}: {exc}") from None
    return f"COALESCE({expr}, FALSE)"


def _kind(sql_type: str) -> str:
    base = sql_type.split("(")[0].strip()
    if base.startswith("timestamp") or base == "date":
        return "time"
    if base in NUMERIC:
        return "number"
    if base in ("boolean", "bool"):
        return "bool"
    return "text"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _like(kind: str, value: Any) -> str:
    """``value`` as a literal of the column's kind: numbers stay numbers, a date text becomes a timestamp."""
    if kind == "time" and isinstance(value, (str, date)):
        return _timestamp(value)
    if kind == "number" and isinstance(value, str):
        raise ValueError("a numeric field needs a number")
    if kind == "text" and _is_number(value):
        return lit(str(value))
    return lit(value)


def _timestamp(value: Any) -> str:
    """A date or date text as a timestamp literal (UTC when it gives no offset)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return lit(stamp.to_pydatetime())


def _comparable(engine: Engine, field: str, column: str, kind: str, values: list[Any],
                checked: dict[str, int]) -> tuple[str, list[str]]:
    """The column and the values in a kind that orders: numbers, or timestamps. A text field
    compared with numbers is counted for values that are not numbers once per ``checked`` (32
    personas split by an age band asked the same count 32 times)."""
    if kind == "time":
        return column, [_timestamp(v) for v in values]
    if all(_is_number(v) for v in values):
        if kind != "number":
            if field not in checked:
                checked[field] = engine.query(f"SELECT count({column}) - count(TRY_CAST({column} AS DOUBLE)) AS n FROM {CUSTOMERS}"
                                              ).column(0)[0].as_py()
            bad = checked[field]
            if bad:
                raise ValueError("the field holds values that are not numbers")
            column = f"TRY_CAST({column} AS DOUBLE)"
        return column, [lit(v) for v in values]
    if not all(isinstance(v, (str, date, datetime)) for v in values):
        raise ValueError("compare with numbers or dates")
    return f"TRY_CAST({column} AS TIMESTAMPTZ)", [_timestamp(v) for v in values]
