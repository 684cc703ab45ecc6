"""personas.yaml: one persona per value of the customer attribute that splits customers most
evenly, else one persona for every customer and a TODO."""

from __future__ import annotations

import math

from cjm_tasks.ingest.scaffold.notes import Notes
from cjm_tasks.ingest.scaffold.roles import Plan
from cjm_tasks.ingest.scaffold.words import _slug, _unique_id
from cjm_tasks.ingest.scaffold.writer import Comment, Note


def _personas(plans: dict[str, Plan], notes: Notes) -> dict:
    """personas.yaml: one persona per value of the attribute that splits customers most evenly."""
    best = None
    for plan in _attribute_plans(plans):
        frame = plan.sample.frame
        for canonical, column in plan.attributes.items():
            per_customer = frame[[plan.customer, column]].dropna().drop_duplicates(plan.customer)[column]
            counts = per_customer.value_counts()
            if not 2 <= len(counts) <= 6:
                continue
            shares = counts / counts.sum()
            evenness = float(-(shares * shares.map(math.log)).sum() / math.log(len(counts)))
            if best is None or evenness > best[0]:
                best = (evenness, canonical, counts, plan.name)
    header = {
        Comment("Personas, written by `cjm init`: declarative rules over customer attributes and features derived"): None,
        Comment("from the quarter's sales (order_count, avg_order_value, main_channel, event_count, ...)."): None,
        Comment("membership: first -> a customer belongs to the first persona whose rule matches."): None,
        "membership": "first",
    }
    if best is None:
        return {**header, "personas": [_everyone(plans, notes)]}
    evenness, canonical, counts, source = best
    total = int(counts.sum())
    notes.guess("personas", "split by", canonical, f"{len(counts)} values over {total:,} customers of {source}, {evenness:.0%} even")
    taken: set[str] = {"all"}
    personas = []
    for value, count in counts.items():
        value = value.item() if hasattr(value, "item") else value
        slug = _slug(str(value))
        pid = _unique_id(slug if slug not in ("", "all") and not slug.isdigit() else _slug(f"{canonical}_{value}"), taken)
        personas.append({
            "id": pid,
            "name": f"{canonical.replace('_', ' ').capitalize()}: {value}",
            "description": f"Customers whose {canonical} is {value} ({count:,} of {total:,} customers in the sample of {source}).",
            "rule": Note({"field": canonical, "op": "eq", "value": value}, flow=True),
        })
    note = f"one persona per value of {canonical!r}: the most even split of the customer attributes found ({evenness:.0%})"
    return {**header, "personas": Note(personas, note)}


def _attribute_plans(plans: dict[str, Plan]) -> list[Plan]:
    if "customers" in plans:
        return [plans["customers"]]
    return [p for p in plans.values() if p.attributes]


def _everyone(plans: dict[str, Plan], notes: Notes) -> dict:
    """One persona for every customer, on a field the configuration has."""
    message = ("no categorical customer attribute (2 to 6 values) found: this persona takes every customer; "
               "add attributes (a customers file, or `attributes:` on a source) and split it")
    rule = {"field": "customer_key", "op": "is_null", "value": False}
    holder = next((p for p in plans.values() if p.customer is not None), None)
    if "sales" in plans:
        rule = {"field": "event_count", "op": "ge", "value": 0}
    elif holder is not None:
        # No attribute and no sales: the customer id, read once more as an attribute, is a
        # field every customer has.
        current = holder.columns[holder.customer]
        holder.columns[holder.customer] = Note(["customer_id", "customer_key"], current.comment, flow=True)
        holder.tree["attributes"] = Note(["customer_key"], "the customer id again, for the one persona", flow=True)
    else:
        message = ("no source has a customer id, so no persona can be told apart and this rule names no field the "
                   "configuration has: map a customer id and an attribute, then rewrite it")
    return {
        "id": "everyone",
        "name": "Every customer",
        "description": "All customers: a placeholder until the attributes that tell your personas apart are mapped.",
        "rule": Note(rule, notes.todo("personas.yaml", "personas[0]", message), flow=True),
    }
