"""The journey files: stages.yaml (stages, their events, questions and rates, which events are
orders) and personas.yaml (personas and the rules that place a customer in one)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator

from cjm_tasks.config.common import Better, Slug, Strict, localize
from cjm_tasks.ids import persona_id


# --------------------------------------------------------------------------- stages.yaml


class RateConfig(Strict):
    numerator: str
    denominator: str
    better: Better = "lower"


class StageConfig(Strict):
    id: Slug
    names: dict[str, str] = Field(min_length=1)
    goal: dict[str, str] = {}
    events: list[str] = []
    questions: dict[str, str] = {}
    rates: dict[str, RateConfig] = {}
    ideal: dict[str, float] = {}
    next: str | None = Field("__following__")
    loops_to: list[str] = []

    def name(self, language: str) -> str:
        return localize(self.names, language)


class OrdersConfig(Strict):
    """Which sales events are orders, for the derived persona features (order_count,
    total_order_value, avg_order_value); their value is the sales source's ``amount`` column."""

    events: list[str] = Field(min_length=1)
    value: Literal["amount"] = "amount"


DEFAULT_ORDER_EVENTS = ("order_placed", "repeat_order")


class StagesFile(Strict):
    stages: list[StageConfig] = Field(min_length=1)
    orders: OrdersConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StagesFile:
        ids = [s.id for s in self.stages]
        seen_events: dict[str, str] = {}
        seen_questions: dict[str, str] = {}
        for i, stage in enumerate(self.stages):
            if ids.count(stage.id) > 1:
                raise ValueError(f"stages[{i}].id: stage {stage.id!r} is declared twice")
            for event in stage.events:
                if event in seen_events:
                    raise ValueError(f"stages[{i}].events: event {event!r} already belongs to stage {seen_events[event]!r}")
                seen_events[event] = stage.id
            for question in stage.questions:
                if question in seen_questions:
                    raise ValueError(f"stages[{i}].questions: question {question!r} already belongs to stage {seen_questions[question]!r}")
                seen_questions[question] = stage.id
            targets = [("next", stage.next)] + [(f"loops_to[{j}]", t) for j, t in enumerate(stage.loops_to)]
            for key, target in targets:
                if target not in (None, "__following__") and target not in ids:
                    raise ValueError(f"stages[{i}].{key}: {target!r} is not a stage id (expected one of {', '.join(ids)})")
        return self


# --------------------------------------------------------------------------- personas.yaml


class Condition(Strict):
    field: str = Field(min_length=1)
    op: Literal["eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "between", "contains", "is_null"]
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        op, value = self.op, self.value
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"operator {op!r} needs a non-empty list as value, got {value!r}")
        elif op == "between":
            if not (isinstance(value, list) and len(value) == 2):
                raise ValueError(f"operator 'between' needs [low, high] as value, got {value!r}")
            if not (_comparable(value[0]) and _comparable(value[1]) and type(value[0]) is type(value[1]) or
                    all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise ValueError(f"operator 'between' needs two numbers or two ISO dates, got {value!r}")
            if value[0] > value[1]:
                raise ValueError(f"operator 'between' needs low <= high, got {value!r}")
        elif op == "is_null":
            if value not in (None, True, False):
                raise ValueError(f"operator 'is_null' takes true, false or no value, got {value!r}")
        elif op == "contains":
            if not isinstance(value, str):
                raise ValueError(f"operator 'contains' needs a text value, got {value!r}")
        elif op in ("lt", "le", "gt", "ge"):
            if not _comparable(value):
                raise ValueError(f"operator {op!r} needs a number or a date, got {value!r}")
        elif isinstance(value, (list, dict)) or value is None:
            raise ValueError(f"operator {op!r} needs a single value, got {value!r}")
        return self


def _comparable(value: Any) -> bool:
    """A number, or a text holding an ISO date / datetime (compared as a timestamp)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


class AllRule(Strict):
    all: list[Rule] = Field(min_length=1)


class AnyRule(Strict):
    any: list[Rule] = Field(min_length=1)


class NotRule(Strict):
    not_: Rule = Field(alias="not")


_RULE_KEYS = {"all": "rule:all", "any": "rule:any", "not": "rule:not", "field": "rule:condition"}


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {AllRule: "rule:all", AnyRule: "rule:any", NotRule: "rule:not", Condition: "rule:condition"}[type(value)]
    if not isinstance(value, dict):
        return None
    kinds = {_RULE_KEYS[k] for k in value if k in _RULE_KEYS}
    return kinds.pop() if len(kinds) == 1 else None


Rule = Annotated[
    Union[
        Annotated[AllRule, Tag("rule:all")],
        Annotated[AnyRule, Tag("rule:any")],
        Annotated[NotRule, Tag("rule:not")],
        Annotated[Condition, Tag("rule:condition")],
    ],
    Discriminator(
        _rule_kind,
        custom_error_type="invalid_rule",
        custom_error_message="a rule is {all: [rules]}, {any: [rules]}, {not: rule} or {field, op, value}",
    ),
]
AllRule.model_rebuild()
AnyRule.model_rebuild()
NotRule.model_rebuild()


class PersonaConfig(Strict):
    id: str
    name: str
    names: dict[str, str] = {}
    description: str = ""
    rule: Rule

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # The same check as every persona id a user types (CLI, Airflow params): it becomes a folder name.
        persona_id(value)
        if value == "all":
            raise ValueError("'all' is reserved for the map of every row (rows without a customer id included)")
        return value

    def display_name(self, language: str) -> str:
        return self.names.get(language, self.name)


class PersonasFile(Strict):
    membership: Literal["first", "all"] = "first"
    personas: list[PersonaConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> PersonasFile:
        ids = [p.id for p in self.personas]
        for i, pid in enumerate(ids):
            if ids.index(pid) != i:
                raise ValueError(f"personas[{i}].id: persona {pid!r} is declared twice")
        return self
