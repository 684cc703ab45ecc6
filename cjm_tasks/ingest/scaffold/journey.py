"""stages.yaml and the barrier catalog copy: the bundled stages holding the events and questions
found, each question's metric by its range, the events that are orders, the bundled rates whose
events exist, and barriers.yaml less the rules on rates the journey lacks."""

from __future__ import annotations

import re
from typing import Any

import yaml

from cjm_tasks.config import DEFAULT_CONFIG
from cjm_tasks.ingest.scaffold.notes import Notes
from cjm_tasks.ingest.scaffold.roles import Plan
from cjm_tasks.ingest.scaffold.words import _match, _words, stage_of
from cjm_tasks.ingest.scaffold.writer import Comment, Note, _quote

BUNDLED = DEFAULT_CONFIG.parent
BUNDLED_SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
ORDER_WORDS = ("order", "orders", "ordered", "purchase", "purchas", "buy", "bought", "reorder", "заказ", "покупк")
NOT_ORDER_WORDS = ("cancel", "fail", "failed", "declin", "reject", "return", "refund", "abandon", "deliver", "ship", "late",
                   "delay", "view", "cart", "basket", "track", "status", "отмен", "возврат", "достав", "отказ")
LOYALTY_ORDER_WORDS = ("repeat", "reorder", "повтор")


def _assign_metrics(plans: dict[str, Plan], notes: Notes) -> dict[str, Any]:
    """Each survey question's metric by its observed range; unusual ranges get a scale of their own."""
    scales: dict[str, Any] = {k: Note(list(v), flow=True) for k, v in BUNDLED_SCALES.items()}
    plan = plans.get("surveys")
    for q in plan.questions if plan else []:
        if q.low >= 1 and q.high <= 5:
            q.metric = "csat"
        elif q.low >= 1 and q.high <= 7:
            q.metric = "ces"
        elif q.low >= 0 and 8 <= q.high <= 10:
            q.metric = "nps"
        else:
            q.metric = f"scale_{q.low:g}_{q.high:g}".replace(".", "_").replace("-", "m")
            if q.metric not in scales:
                scales[q.metric] = Note([q.low, q.high], notes.todo("cjm.yaml", f"metrics.scales.{q.metric}",
                                                                    f"values {q.low:g}..{q.high:g} fit no usual scale (csat 1-5, ces 1-7, nps 0-10): check the scale and name the metric"),
                                        flow=True)
        notes.guess("surveys", "metric", f"{q.id}: {q.metric}", f"values {q.low:g}..{q.high:g} in {q.answers:,} answers")
    return scales


def _stages(plans: dict[str, Plan], notes: Notes) -> tuple[dict, dict[str, set[str]]]:
    """stages.yaml: the bundled stage ids and names, holding the events and questions found."""
    bundled = yaml.safe_load((BUNDLED / "stages.yaml").read_text(encoding="utf-8"))["stages"]
    events = plans["sales"].events if "sales" in plans else {}
    questions = plans["surveys"].questions if "surveys" in plans else []
    placed_events: dict[str, list] = {s["id"]: [] for s in bundled}
    placed_questions: dict[str, dict] = {s["id"]: {} for s in bundled}
    for event, count in events.items():
        hit = stage_of(event)
        if hit:
            placed_events[hit[0]].append(Note(event, f"{hit[1]!r} -> {hit[0]}; {count:,} rows"))
        else:
            placed_events["purchase"].append(Note(event, notes.todo("stages.yaml", "stages[purchase].events",
                                                                    f"event {event!r} ({count:,} rows) matched no stage word: placed in purchase")))
    for q in questions:
        hit = stage_of(q.id, q.label)
        seen = f"values {q.low:g}..{q.high:g} -> {q.metric}"
        if hit:
            placed_questions[hit[0]][q.id] = Note(q.metric, f"{seen}; {hit[1]!r} -> {hit[0]}")
        else:
            placed_questions["purchase"][q.id] = Note(q.metric, notes.todo("stages.yaml", f"stages[purchase].questions.{q.id}",
                                                                           f"question {_quote(q.label)} matched no stage word: placed in purchase ({seen})"))
    rates = _rates(list(events), notes)
    bundled_rates = {r for s in bundled for r in s.get("rates", {})}
    out_stages = []
    for stage in bundled:
        sid = stage["id"]
        empty = not placed_events[sid] and not placed_questions[sid]
        item: dict = {"id": Note(sid, "none of your events or questions placed here: kept, the barrier catalog refers to this stage" if empty else ""),
                      "names": Note(stage["names"], flow=True)}
        if "goal" in stage:
            item["goal"] = Note(stage["goal"], flow=True)
        if placed_events[sid]:
            item["events"] = placed_events[sid]
        if placed_questions[sid]:
            item["questions"] = placed_questions[sid]
        if rates.get(sid):
            item["rates"] = rates[sid]
        ideal = {k: v for k, v in stage.get("ideal", {}).items() if k not in bundled_rates or k in rates.get(sid, {})}
        if ideal:
            item["ideal"] = Note(ideal, "the bundled journey's targets", flow=True)
        for key in ("next", "loops_to"):
            if key in stage:
                item[key] = Note(stage[key], flow=True)
        out_stages.append(item)
    tree = {
        Comment("The journey, written by `cjm init`: the bundled stages (the barrier catalog refers to their ids)"): None,
        Comment("holding your sales events and survey questions, placed by the words in their names."): None,
        Comment("`next` is the stage whose reach counts as conversion; `loops_to` records loops on the map."): None,
        "stages": out_stages,
    }
    if "sales" in plans:
        tree.update(_orders(plans["sales"], notes))
    return tree, {sid: set(r) for sid, r in rates.items()}


def _orders(sales: Plan, notes: Notes) -> dict:
    orders = [e for e in sales.events if _match(_words(e), ORDER_WORDS) and not _match(_words(e), NOT_ORDER_WORDS)]
    if not orders:
        if not sales.events:
            return {}
        return {Comment(notes.todo("stages.yaml", "orders", "no event name looks like an order (order, purchase, buy): "
                                   "list the events that are orders as `orders: {events: [...]}` for order_count and avg_order_value")): None}
    value = "the sales source's amount column" if sales.amount_max is not None else "no amount column was found: order values stay empty"
    notes.guess("sales", "orders", ", ".join(orders), "event names with order, purchase or buy (cancellations, failures, deliveries left out)")
    return {"orders": Note({"events": orders, "value": "amount"}, f"events that are orders (for order_count, avg_order_value); value: {value}", flow=True)}


# Rates of the bundled metric rules, by the words of their numerator and denominator events.
RATES = (
    ("cancellation_rate", "purchase", ("cancel", "отмен"), ORDER_WORDS),
    ("failed_payment_rate", "purchase", ("fail", "failed", "declin", "reject", "отказ"), ("checkout", "оформлен")),
    ("late_delivery_rate", "purchase", ("late", "delay", "опозд", "задерж"), ("deliver", "доставк", "доставл")),
    ("return_rate", "experience", ("return", "refund", "возврат"), ("deliver", "доставк", "доставл")),
)


def _rates(events: list[str], notes: Notes) -> dict[str, dict]:
    """The bundled rates whose numerator and denominator events exist (by the bundled names, else
    by words), keyed by the stage the bundled metric rules look for them in."""
    bundled = {r: (s["id"], spec) for s in yaml.safe_load((BUNDLED / "stages.yaml").read_text(encoding="utf-8"))["stages"]
               for r, spec in s.get("rates", {}).items()}
    out: dict[str, dict] = {}
    order_events = [e for e in events if _match(_words(e), ORDER_WORDS) and not _match(_words(e), NOT_ORDER_WORDS + LOYALTY_ORDER_WORDS)]
    for rate, stage, numerator_words, denominator_words in RATES:
        spec = bundled.get(rate, (stage, {}))[1]
        why = "the bundled definition: both events are in the sample"
        if spec and spec["numerator"] in events and spec["denominator"] in events:
            numerator, denominator = spec["numerator"], spec["denominator"]
        else:
            why = "by the words of the event names"
            numerator = next((e for e in events if _match(_words(e), numerator_words) and
                              (rate != "failed_payment_rate" or _match(_words(e), ("pay", "payment", "paid", "оплат")))), None)
            pool = order_events if rate == "cancellation_rate" else [e for e in events if _match(_words(e), denominator_words)]
            pool = [e for e in pool if e != numerator and not _match(_words(e), ("cancel", "fail", "failed", "late", "delay", "return", "refund"))]
            denominator = pool[0] if pool else (order_events[0] if rate in ("failed_payment_rate", "return_rate") and order_events else None)
            if numerator is None or denominator is None or numerator == denominator:
                continue
        out.setdefault(stage, {})[rate] = Note({"numerator": numerator, "denominator": denominator},
                                               notes.guess("sales", rate, f"{numerator} / {denominator}", why), flow=True)
    return out


def _catalog_copy(rates: dict[str, set[str]]) -> str:
    """The bundled barriers.yaml, less the metric rules on rates this journey does not have."""
    text = (BUNDLED / "barriers.yaml").read_text(encoding="utf-8")
    bundled_rates = {r for s in yaml.safe_load((BUNDLED / "stages.yaml").read_text(encoding="utf-8"))["stages"] for r in s.get("rates", {})}
    lines = text.split("\n")
    start = lines.index("metric_rules:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#")))
    while lines[end - 1].startswith("#") or not lines[end - 1].strip():
        end -= 1  # the comment above the next key belongs to it
    blocks: list[list[str]] = []
    for line in lines[start + 1:end]:
        if line.startswith("  - "):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    kept, dropped = [], []
    for block in blocks:
        fields = dict(re.match(r"\s*-?\s*(\w+): (.*)$", ln).groups() for ln in block if re.match(r"\s*-?\s*(id|stage|metric): ", ln))
        if fields.get("metric") in bundled_rates and fields.get("metric") not in rates.get(fields.get("stage", ""), set()):
            dropped.append(f"{fields['id']} ({fields['metric']})")
        else:
            kept.extend(block)
    note = []
    if dropped:
        note = [f"# `cjm init` left out {', '.join(dropped)}:",
                "# stages.yaml has no such rate, since the sales sample showed no events for it. Add the rate to",
                "# its stage, then the rule from configs/barriers.yaml."]
    header = ["# A copy of the bundled barrier catalog (configs/barriers.yaml), written by `cjm init`: edit it freely."]
    return "\n".join(header + lines[:start + 1] + note + kept + lines[end:])
