"""Cross-file references: every stage, event, question, metric and persona field one file names
and another must declare, checked together when the configuration loads."""

from __future__ import annotations

from typing import Any

from cjm_tasks.config.common import display_path
from cjm_tasks.config.journey import AllRule, AnyRule, Condition, NotRule
from cjm_tasks.config.model import CjmConfig
from cjm_tasks.errors import ConfigError

METRICS = ("csat", "nps", "ces")
STAGE_METRICS = ("csat", "nps", "ces", "rating", "sentiment", "emotion", "conversion_to_next", "reached_share")

SALES_FEATURES = ("first_seen", "last_seen", "main_channel", "event_count")
ORDER_FEATURES = ("order_count", "total_order_value", "avg_order_value")


def available_fields(config: CjmConfig) -> tuple[list[str], bool]:
    """(fields persona rules can use, whether a customers source may add more).

    Derived features need a sales source (the order features also order events); attributes
    come from ``attributes:`` of any source; a customers source without ``attributes:`` reads
    whatever the rules name, which only its file can confirm."""
    fields: list[str] = []
    if "sales" in config.sources:
        fields += SALES_FEATURES
        if config.order_events:
            fields += ORDER_FEATURES
    for source in config.sources.values():
        fields += source.attributes or []
    open_ended = "customers" in config.sources and config.sources["customers"].attributes is None
    return list(dict.fromkeys(fields)), open_ended


def rule_fields(rule: Any, where: str) -> list[tuple[str, str]]:
    """(field, key path) of every condition of a persona rule."""
    if isinstance(rule, Condition):
        return [(rule.field, f"{where}.field")]
    if isinstance(rule, AllRule):
        return [f for i, r in enumerate(rule.all) for f in rule_fields(r, f"{where}.all[{i}]")]
    if isinstance(rule, AnyRule):
        return [f for i, r in enumerate(rule.any) for f in rule_fields(r, f"{where}.any[{i}]")]
    if isinstance(rule, NotRule):
        return rule_fields(rule.not_, f"{where}.not")
    return []


def reference_problems(config: CjmConfig) -> list[ConfigError]:
    """Every cross-file reference that does not resolve (stages, events, questions, metrics,
    persona fields), all at once: fixing a removed stage should not take one run per entry."""
    problems: list[ConfigError] = []

    def problem(file: str, key: str, message: str) -> None:
        problems.append(ConfigError(file, key, message))

    stage_ids = config.stage_ids
    barriers_file = display_path(config.files["barriers"])
    stages_file = display_path(config.files["stages"])
    personas_file = display_path(config.files["personas"])
    main_file = display_path(config.path)
    all_events = set(config.event_stage)
    scales = config.metrics.scales
    questions = config.question_stage_metric
    for i, stage in enumerate(config.stages):
        for q, metric in stage.questions.items():
            if metric not in scales:
                problem(stages_file, f"stages[{i}].questions.{q}",
                        f"metric {metric!r} has no scale (expected one of {', '.join(scales)}, or declare it under metrics.scales)")
        for rate, spec in stage.rates.items():
            for side in ("numerator", "denominator"):
                event = getattr(spec, side)
                if event not in all_events:
                    problem(stages_file, f"stages[{i}].rates.{rate}.{side}", f"{event!r} is not an event type of any stage")
    if config.orders is not None:
        for j, event in enumerate(config.orders.events):
            if event not in all_events:
                problem(stages_file, f"orders.events[{j}]", f"{event!r} is not an event type of any stage (expected one of {', '.join(sorted(all_events)) or 'none: no stage lists events'})")
    used_metrics = {m for _, m in questions.values()}
    for metric in scales:
        if metric not in METRICS and metric not in used_metrics:
            problem(main_file, f"metrics.scales.{metric}", f"{metric!r} is not the metric of any question in stages.yaml (questions: {{question_id: {metric}}} under a stage)")
    for metric in config.metrics.better:
        if metric not in scales:
            problem(main_file, f"metrics.better.{metric}", f"{metric!r} has no scale (expected one of {', '.join(scales)})")
    for name, source in config.sources.items():
        key = f"sources.{name}"
        if source.comment_stage is not None:
            if name != "surveys":
                problem(main_file, f"{key}.comment_stage", "comment_stage applies to the surveys source only")
            elif source.comment_stage != "general" and source.comment_stage not in stage_ids:
                problem(main_file, f"{key}.comment_stage",
                        f"{source.comment_stage!r} is not a stage id or 'general' (expected one of {', '.join(stage_ids)}, general)")
        if name != "surveys":
            if source.layout != "wide":
                problem(main_file, f"{key}.layout", "layout applies to the surveys source only")
            if source.text_questions:
                problem(main_file, f"{key}.text_questions", "text_questions applies to the surveys source only")
        if name != "reviews" and (source.scales or source.scale_by):
            problem(main_file, f"{key}.{'scales' if source.scales else 'scale_by'}",
                    "a source's rating scale applies to reviews only (survey metrics: metrics.scales)")
        if name == "customers" and source.row_id == "hash":
            problem(main_file, f"{key}.row_id", "customers are identified by customer_id; a hashed id would make every row a new customer")
        if name == "surveys":
            for j, q in enumerate(source.text_questions):
                if q in questions:
                    problem(main_file, f"{key}.text_questions[{j}]", f"{q!r} is a scored question of stage {questions[q][0]!r}; a text item cannot also be scored")
            if source.melt is not None and source.melt.variable == "question":
                for rule in source.melt.all_rules():
                    if rule.label not in questions and rule.label not in source.text_questions:
                        problem(main_file, f"{key}.melt", f"question {rule.label!r} (from column {rule.column!r}) is listed under no stage in stages.yaml "
                                f"(add it to a stage's questions, e.g. {{{rule.label}: csat}}, or to text_questions)")
            if "question" in source.constants and str(source.constants["question"]) not in questions:
                problem(main_file, f"{key}.constants.question", f"{source.constants['question']!r} is listed under no stage in stages.yaml")
        if name == "sales" and source.melt is not None and source.melt.variable == "event_type":
            for rule in source.melt.all_rules():
                if rule.label not in all_events:
                    problem(main_file, f"{key}.melt", f"event {rule.label!r} (from column {rule.column!r}) is listed under no stage in stages.yaml")
        if "stage" in source.constants and str(source.constants["stage"]) not in stage_ids:
            problem(main_file, f"{key}.constants.stage", f"{source.constants['stage']!r} is not a stage id (expected one of {', '.join(stage_ids)})")
    for i, barrier in enumerate(config.barriers.catalog):
        if barrier.stage not in stage_ids:
            problem(barriers_file, f"catalog[{i}].stage", f"{barrier.stage!r} is not a stage id (barrier {barrier.id!r}; expected one of {', '.join(stage_ids)})")
    for i, rule in enumerate(config.barriers.metric_rules):
        if rule.stage != "*" and rule.stage not in stage_ids:
            problem(barriers_file, f"metric_rules[{i}].stage", f"{rule.stage!r} is not a stage id or '*' (rule {rule.id!r}; expected one of {', '.join(stage_ids)})")
            continue
        stages = config.stages if rule.stage == "*" else [config.stage(rule.stage)]
        known = set(STAGE_METRICS) | set(scales) | {r for s in stages for r in s.rates}
        if rule.metric not in known:
            problem(barriers_file, f"metric_rules[{i}].metric",
                    f"{rule.metric!r} is not a metric of stage {rule.stage!r} (expected one of {', '.join(sorted(known))})")
    fields, open_ended = available_fields(config)
    for i, persona in enumerate(config.personas.personas):
        for field, key in rule_fields(persona.rule, f"personas[{i}].rule"):
            if field in fields or open_ended:
                continue
            if field in ORDER_FEATURES and "sales" in config.sources:
                why = "order features need the sales events that are orders: declare `orders: {events: [...]}` in stages.yaml"
            elif field in SALES_FEATURES + ORDER_FEATURES:
                why = "derived features need a sales source"
            else:
                why = "no source declares it: list it under `attributes:` of the source that carries it, or add a customers source"
            problem(personas_file, key, f"persona {persona.id!r}: {field!r} is not a customer attribute or derived feature; {why} "
                    f"(available: {', '.join(fields) or 'none'})")
    return problems


def check_references(config: CjmConfig) -> None:
    """Raise one :class:`ConfigError` listing every reference that does not resolve."""
    problems = reference_problems(config)
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        rest = "\n".join(f"  also: {f'{p.key}: {p.detail}' if p.file == first.file else p}" for p in problems[1:20])
        more = f"\n  (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ConfigError(first.file, first.key, f"{first.detail}\n{rest}{more}")
    raise first
