"""Assign customers to personas by declarative rules.

Rules (``configs/personas.yaml``) are data: ``{all: [...]}``, ``{any: [...]}``, ``{not: rule}`` and
conditions ``{field, op, value}`` with eq, ne, in, not_in, lt, le, gt, ge, between, contains and
is_null. They are evaluated column-wise over a table of customers (one row per customer), never
as code. A condition on a missing value is false, except ``is_null``.

Fields are customer attributes or features derived from the period's sales: ``order_count``,
``total_order_value``, ``avg_order_value`` (over the events stages.yaml declares as orders),
``first_seen``, ``last_seen``, ``main_channel`` and ``event_count``.

Attributes come from the customers source (one row per customer) and from ``attributes:`` on
any other source (a segment repeated on every order row, a traveller type on every review). When
sources disagree, the customers source wins (it is the master record); otherwise the value on the
customer's latest dated row of the period wins (ties: sales, then surveys, then reviews). Empty
values never override a filled one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjm_tasks.config import AllRule, AnyRule, Condition, NotRule, PersonasFile
from cjm_tasks.config.journey import DEFAULT_ORDER_EVENTS
from cjm_tasks.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

ALL_PERSONA = "all"


@dataclass
class Membership:
    """Who belongs to which persona.

    ``members`` has one row per (customer_id, persona) pair; ``unassigned`` counts customers
    that match no persona; ``customers`` is the number of customers considered.
    """

    members: pd.DataFrame
    unassigned: int
    customers: int

    def counts(self) -> dict[str, int]:
        return self.members.groupby("persona", sort=False).size().to_dict()


ATTRIBUTE_SOURCES = (("sales", "occurred_at"), ("surveys", "answered_at"), ("reviews", "published_at"))


def customer_attributes(inputs: Any, config: Any) -> pd.DataFrame | None:
    """One row per customer with the attributes of every source (module docstring: conflicts)."""
    import pandas as pd

    parts = []
    for rank, (name, ts) in enumerate(ATTRIBUTE_SOURCES):
        frame = getattr(inputs, name, None)
        source = config.sources.get(name)
        attrs = [a for a in (source.attributes or []) if frame is not None and a in frame.columns] if source else []
        if not attrs or "customer_id" not in frame.columns:
            continue
        part = frame.loc[frame["customer_id"].notna(), ["customer_id", *attrs]].copy()
        part["_at"] = frame.loc[part.index, ts] if ts in frame.columns else pd.NaT
        part["_rank"] = -rank
        parts.append(part.melt(id_vars=["customer_id", "_at", "_rank"], value_vars=attrs, var_name="_attr", value_name="_value"))
    customers = inputs.customers
    if not parts:
        return customers
    if customers is not None and len(customers):
        customers = customers.drop_duplicates("customer_id").set_index("customer_id")
    long = pd.concat(parts, ignore_index=True)
    long = long[long["_value"].notna() & (long["_value"].astype("str").str.strip() != "")]
    # Latest dated value first; among equal times the earlier source of ATTRIBUTE_SOURCES.
    long = long.sort_values(["customer_id", "_attr", "_at", "_rank"], ascending=[True, True, False, False], kind="stable", na_position="last")
    latest = long.drop_duplicates(["customer_id", "_attr"]).pivot(index="customer_id", columns="_attr", values="_value")
    latest.columns.name = None
    latest = latest.apply(_typed)
    if customers is None or not len(customers):
        return latest.rename_axis("customer_id").reset_index()
    # The customers source is the master record: its filled values win.
    merged = customers.combine_first(latest) if len(latest) else customers
    return merged.rename_axis("customer_id").reset_index()


def _typed(values: pd.Series) -> pd.Series:
    """Attribute values read as text become numbers when every one of them is a number."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    if values.notna().any() and numbers.notna().sum() == values.notna().sum():
        return numbers
    return values


def derive_features(sales: pd.DataFrame | None, customers: pd.DataFrame | None,
                    order_events: list[str] | tuple[str, ...] = DEFAULT_ORDER_EVENTS) -> pd.DataFrame:
    """One row per customer (index ``customer_id``): attributes joined with sales features.

    Customers appear when they have sales in the period or a row in ``customers``. Order
    features count ``order_events`` (stages.yaml ``orders.events``; none: no order features);
    ``main_channel`` is the channel of most events (ties broken by name, so the result is deterministic).
    """
    import pandas as pd

    parts = []
    if sales is not None and len(sales):
        s = sales[sales["customer_id"].notna()]
        grouped = s.groupby("customer_id", sort=True)
        feats = pd.DataFrame({
            "event_count": grouped.size(),
            "first_seen": grouped["occurred_at"].min(),
            "last_seen": grouped["occurred_at"].max(),
        })
        if order_events:
            orders = s[s["event_type"].isin(list(order_events))]
            by_order = orders.groupby("customer_id", sort=True)
            feats["order_count"] = by_order.size().reindex(feats.index, fill_value=0).astype("int64")
            amount = (pd.to_numeric(orders["amount"], errors="coerce").astype("float64") if "amount" in orders.columns
                      else pd.Series(0.0, index=orders.index))
            feats["total_order_value"] = amount.groupby(orders["customer_id"]).sum().reindex(feats.index, fill_value=0.0)
            feats["avg_order_value"] = (feats["total_order_value"] / feats["order_count"]).where(feats["order_count"] > 0)
        if "channel" in s.columns:
            per_channel = s.groupby(["customer_id", "channel"], sort=True).size().rename("n").reset_index()
            per_channel = per_channel.sort_values(["customer_id", "n", "channel"], ascending=[True, False, True], kind="stable")
            feats["main_channel"] = per_channel.drop_duplicates("customer_id").set_index("customer_id")["channel"]
        parts.append(feats)
    if customers is not None and len(customers):
        parts.append(customers.drop_duplicates("customer_id").set_index("customer_id"))
    if not parts:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    table = parts[0] if len(parts) == 1 else parts[0].join(parts[1], how="outer")
    table.index.name = "customer_id"
    if sales is not None and "event_count" in table.columns:
        table["event_count"] = table["event_count"].fillna(0).astype("int64")
    if sales is not None and "order_count" in table.columns:
        table["order_count"] = table["order_count"].fillna(0).astype("int64")
    return table


def evaluate(rule: Any, table: pd.DataFrame, where: str = "rule") -> pd.Series:
    """Boolean Series over ``table``'s rows: which rows match ``rule``.

    Raises :class:`RuleError` when a condition names a field the table does not have or
    compares a field with a value of the wrong kind; ``where`` is the rule's key path.
    """
    import numpy as np
    import pandas as pd

    if isinstance(rule, AllRule):
        result = pd.Series(True, index=table.index)
        for i, r in enumerate(rule.all):
            result &= evaluate(r, table, f"{where}.all[{i}]")
        return result
    if isinstance(rule, AnyRule):
        result = pd.Series(False, index=table.index)
        for i, r in enumerate(rule.any):
            result |= evaluate(r, table, f"{where}.any[{i}]")
        return result
    if isinstance(rule, NotRule):
        return ~evaluate(rule.not_, table, f"{where}.not")
    if not isinstance(rule, Condition):
        raise RuleError(where, f"not a rule: {rule!r}")
    if rule.field not in table.columns:
        available = ", ".join(sorted(map(str, table.columns)))
        why = ("" if available else "; this quarter's data gives customers no attributes or features: add `attributes:` to a source "
               "or a customers source, or a sales source for derived features")
        raise RuleError(f"{where}.field", f"{rule.field!r} is not a customer attribute or derived feature "
                        f"(available: {available or 'none'}){why}")
    column = table[rule.field]
    present = column.notna()
    op, value = rule.op, rule.value
    if op == "is_null":
        return ~present if value in (None, True) else present
    try:
        if op in ("lt", "le", "gt", "ge", "between"):
            values = value if op == "between" else [value]
            column, values = _comparable_column(column, values)
            if op == "between":
                out = (column >= values[0]) & (column <= values[1])
            else:
                out = {"lt": column.lt, "le": column.le, "gt": column.gt, "ge": column.ge}[op](values[0])
        elif op == "eq":
            out = column == _like(column, value)
        elif op == "ne":
            out = column != _like(column, value)
        elif op in ("in", "not_in"):
            members = column.isin([_like(column, v) for v in value])
            out = members if op == "in" else ~members
        elif op == "contains":
            out = column.astype("str").str.contains(str(value), case=False, regex=False)
        else:  # pragma: no cover - the config model admits no other operator
            raise RuleError(f"{where}.op", f"unknown operator {op!r}")
    except (TypeError, ValueError) as exc:
        raise RuleError(where, f"cannot compare {rule.field!r} ({column.dtype}) with {value!r}: {exc}") from None
    return pd.Series(np.asarray(out.fillna(False), dtype=bool), index=table.index) & present


def _like(column: pd.Series, value: Any) -> Any:
    """``value`` in the column's kind: numbers stay numbers, a date text becomes a timestamp."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column.dtype) and isinstance(value, str):
        stamp = pd.Timestamp(value)
        tz = getattr(column.dt, "tz", None)
        return stamp.tz_localize(tz) if tz is not None and stamp.tzinfo is None else stamp
    if pd.api.types.is_numeric_dtype(column.dtype) and isinstance(value, str):
        raise ValueError("a numeric field needs a number")
    if pd.api.types.is_string_dtype(column.dtype) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _comparable_column(column: pd.Series, values: list[Any]) -> tuple[pd.Series, list[Any]]:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column, [_like(column, v) for v in values]
    if all(isinstance(v, (int, float)) for v in values):
        if not pd.api.types.is_numeric_dtype(column.dtype):
            numbers = pd.to_numeric(column, errors="coerce")
            if numbers.notna().sum() < column.notna().sum():
                raise ValueError("the field holds values that are not numbers")
            column = numbers
        return column, values
    stamps = [pd.Timestamp(v) for v in values]
    parsed = pd.to_datetime(column, errors="coerce", utc=any(s.tzinfo for s in stamps))
    return parsed, stamps


class RuleError(ConfigError):
    """A persona rule that cannot be applied to the customers (unknown field, wrong kind)."""

    def __init__(self, key: str, message: str, file: str = "personas.yaml"):
        super().__init__(file, key, message)


def assign_personas(table: pd.DataFrame, personas: PersonasFile, file: str = "personas.yaml") -> Membership:
    """Match every customer of ``table`` (from :func:`derive_features`) against the personas.

    With membership ``first`` a customer joins the first persona (in file order) whose rule
    matches; with ``all`` every matching persona. Raises :class:`RuleError` naming the persona
    and the rule key when a rule cannot be applied.
    """
    import numpy as np
    import pandas as pd

    if len(table) == 0:
        # No row of the quarter names a customer (reviews only, say): every persona is empty and
        # only the ``all`` map, counted in texts, says something. Rules cannot be checked
        # against no customers, so they are not.
        log.warning("no customer ids in this quarter: every persona is empty; the `all` map counts texts")
        return Membership(members=pd.DataFrame({"customer_id": pd.Series([], dtype="object"), "persona": pd.Series([], dtype="object")}),
                          unassigned=0, customers=0)
    taken = pd.Series(False, index=table.index)
    pieces = []
    for i, persona in enumerate(personas.personas):
        try:
            match = evaluate(persona.rule, table, f"personas[{i}].rule")
        except RuleError as exc:
            raise RuleError(exc.key or f"personas[{i}].rule", f"persona {persona.id!r}: {exc.detail}", file) from None
        if personas.membership == "first":
            match &= ~taken
        taken |= match
        ids = table.index[match.to_numpy()]
        pieces.append(pd.DataFrame({"customer_id": ids, "persona": np.repeat(persona.id, len(ids))}))
    members = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=["customer_id", "persona"])
    unassigned = int((~taken).sum())
    if unassigned:
        log.info("%d of %d customers match no persona", unassigned, len(table))
    return Membership(members=members, unassigned=unassigned, customers=len(table))
