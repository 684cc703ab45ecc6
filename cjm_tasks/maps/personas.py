"""Personas: what a rule means. The engine evaluates them (:mod:`cjm_tasks.engine.personas`).

Rules (``configs/personas.yaml``) are data: ``{all: [...]}``, ``{any: [...]}``, ``{not: rule}`` and
conditions ``{field, op, value}`` with eq, ne, in, not_in, lt, le, gt, ge, between, contains and
is_null. They are turned into SQL predicates over a table of the quarter's active customers (one
row per customer), with every value a quoted literal, never evaluated as code. A condition on a
missing value is false, except ``is_null``. A number compares with a numeric field (a text field
whose every value is a number counts as one), a date text with a timestamp field or a text field
of dates; ``contains`` ignores case. Membership ``first`` puts a customer in the first persona
(in file order) whose rule matches, ``all`` in every one.

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

from cjm_tasks.errors import ConfigError

ALL_PERSONA = "all"

# Sources that may carry customer attributes, with their timestamp column, in the order that
# breaks ties between values of the same time.
ATTRIBUTE_SOURCES = (("sales", "occurred_at"), ("surveys", "answered_at"), ("reviews", "published_at"))


class RuleError(ConfigError):
    """A persona rule that cannot be applied to the customers (unknown field, wrong kind)."""

    def __init__(self, key: str, message: str, file: str = "personas.yaml"):
        super().__init__(file, key, message)
