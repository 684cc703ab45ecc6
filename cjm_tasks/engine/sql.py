"""Writing SQL safely: identifiers and literals quoted for DuckDB's dialect (which SQLGlot
transpiles for Spark). Configuration values (persona rule values, stage ids, event names) reach
queries only through :func:`lit`, never pasted as text."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any


def ident(name: str) -> str:
    """A column or view name, double-quoted (a quote inside doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A Python value as an SQL literal: text single-quoted (quotes doubled), numbers as numbers,
    booleans, NULL, timestamps as TIMESTAMPTZ literals, lists as a parenthesised list for IN."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return f"CAST({lit(value.isoformat())} AS TIMESTAMP)"
        return f"CAST({lit(value.isoformat())} AS TIMESTAMPTZ)"
    if isinstance(value, date):
        return f"CAST({lit(value.isoformat())} AS DATE)"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        return "(" + ", ".join(lit(v) for v in items) + ")" if items else "(NULL)"
    text = str(value)
    if "\x00" in text:
        raise ValueError("a text with a NUL character cannot be a literal")
    return "'" + text.replace("'", "''") + "'"
