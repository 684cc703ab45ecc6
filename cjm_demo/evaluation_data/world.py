"""The evaluation retailer's world: its customer segments, the complaint topics it plants, and the
planted prevalence of every topic per segment and quarter (with the changes that implies).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cjm_tasks.periods import Period

START = Period(2024, 1)
QUARTERS = 5
TIMEZONE = "Europe/Moscow"
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Segment:
    """A customer segment as the retailer's CRM knows it, and how its customers behave."""

    code: str                 # the value in the exports' segment column
    persona: str              # the persona id configs/examples/evaluation/personas.yaml gives it
    active: int               # active customers per quarter at scale 1
    write_probability: float  # a customer who meets a barrier writes about it
    neutral_probability: float  # a customer who meets none writes anyway (praise, vague text)
    russian_share: float
    survey_share: float       # active customers who answer the survey in a quarter


# Trade customers buy often and write little; young customers write a lot. The contrast gives
# personas on both sides of 300 customers with text at scale 1.
SEGMENTS: tuple[Segment, ...] = (
    Segment("PRO", "trade_pros", 1500, 0.50, 0.05, 0.70, 0.30),
    Segment("FAM", "households", 2300, 0.70, 0.15, 0.60, 0.40),
    Segment("YNG", "young_buyers", 1900, 0.75, 0.20, 0.40, 0.45),
)


@dataclass(frozen=True)
class Topic:
    """A complaint topic: a catalog barrier id, or an uncatalogued topic with signature words."""

    key: str
    stage: str
    catalog: bool
    signature: tuple[str, ...] = ()


# Catalog ids the world plants, with the stage each belongs to by its meaning.
CATALOG_TOPICS: tuple[Topic, ...] = (
    Topic("cash_only_payment", "purchase", True),
    Topic("queues", "purchase", True),
    Topic("out_of_stock", "purchase", True),
    Topic("rude_staff", "purchase", True),
    Topic("late_delivery", "purchase", True),
    Topic("pushy_upsell", "purchase", True),
    Topic("not_as_promised", "experience", True),
    Topic("poor_description", "evaluation", True),
    Topic("site_errors", "evaluation", True),
    Topic("no_instructions", "experience", True),
    Topic("hidden_fees", "evaluation", True),
    Topic("slow_support", "experience", True),
)
# Topics no catalog entry describes; the emerging-theme detector should find them. Signature
# words (matched as substrings of an emerging theme's phrases) tie a theme to its topic.
UNCATALOGUED_TOPICS: tuple[Topic, ...] = (
    Topic("uncatalogued:parking", "purchase", False, ("parking", "park ", "припарков", "парковк")),
    Topic("uncatalogued:chemical_smell", "experience", False, ("chemical", "smell", "химии", "химией", "запах", "reek", "stink")),
)
TOPICS: tuple[Topic, ...] = CATALOG_TOPICS + UNCATALOGUED_TOPICS
TOPIC_BY_KEY = {t.key: t for t in TOPICS}

# Planted changes (prevalence before, after). "near" pairs sit by the diff's decision limits.
WORSE_LARGE = ((0.04, 0.12), (0.15, 0.30), (0.05, 0.12), (0.06, 0.15), (0.10, 0.22))
WORSE_NEAR = ((0.05, 0.08), (0.06, 0.09), (0.08, 0.12), (0.10, 0.14))
BETTER_LARGE = ((0.20, 0.08), (0.12, 0.05), (0.15, 0.06), (0.24, 0.10))
BETTER_NEAR = ((0.06, 0.04), (0.09, 0.06), (0.12, 0.09), (0.08, 0.055))
NEW_LEVELS = (0.04, 0.06, 0.08, 0.12)
RESOLVED_LEVELS = (0.05, 0.08, 0.12)
RETURN_LEVELS = (0.06, 0.08, 0.10, 0.12)
STEADY_LEVELS = (0.02, 0.03, 0.05, 0.08, 0.10)
STEADY_ABSENT_SHARE = 0.55
PARKING_BASE, PARKING_RISEN = 0.003, 0.021   # ~6 -> ~42 customers of a segment at scale 1
SMELL_LEVEL = 0.025
RETENTION = 0.55          # share of a quarter's active customers active again the next quarter
ANONYMOUS_REVIEWS = 0.12
COMBINE_REVIEWS = 0.4     # a customer with several complaints writes them in one review
ALSO_REVIEW = 0.15        # a survey respondent also posts a review of one complaint


def size_class(before: float, after: float) -> str:
    """``large`` when the prevalence at least doubles or halves, or moves by 10 points or more;
    else ``near_limit``."""
    low, high = min(before, after), max(before, after)
    if high - low >= 0.10 - 1e-12 or low == 0 or high / low >= 2 - 1e-12:
        return "large"
    return "near_limit"


def change_type(history: Sequence[float], before: float, after: float) -> str | None:
    """The change between two quarters' prevalences, given the prevalences of every quarter
    before them (``history``, oldest first): None when equal."""
    if math.isclose(before, after):
        return None
    if before == 0:
        return "returned" if any(v > 0 for v in history) else "new"
    if after == 0:
        return "resolved"
    return "worsened" if after > before else "improved"


DIRECTION = {"new": "up", "returned": "up", "worsened": "up", "improved": "down", "resolved": "down"}


def plan_prevalence(rng: np.random.Generator, quarters: int = QUARTERS) -> tuple[dict[str, dict[str, list[float]]], int]:
    """The true prevalence of every topic per persona and quarter, and the noise-only pair.

    Returns ({persona: {topic key: [prevalence per quarter]}}, index of the noise-only pair;
    pair ``j`` is quarters ``j`` -> ``j + 1``). Per seed: one barrier resolved and then back
    (returned), twelve more single changes (two each of new, resolved, large and near-limit
    worsening, large and near-limit improvement) spread over the pairs that are not noise-only,
    the parking topic rising from a low base in one persona, the chemical-smell topic appearing
    in one persona (and, one time in two, going again later). Every other cell is steady.
    """
    pairs = quarters - 1
    noise = int(rng.integers(pairs))
    changing = [j for j in range(pairs) if j != noise]
    personas = [s.persona for s in SEGMENTS]
    cells = [(p, t.key) for p in personas for t in CATALOG_TOPICS]
    cells = [cells[i] for i in rng.permutation(len(cells))]
    plan: dict[tuple[str, str], list[float]] = {}

    def step(j: int, before: float, after: float) -> list[float]:
        return [before] * (j + 1) + [after] * (quarters - j - 1)

    consecutive = [j for j in changing if j + 1 in changing]
    j = int(rng.choice(consecutive))
    first, again = (float(v) for v in rng.choice(RETURN_LEVELS, 2))
    plan[cells.pop()] = [first] * (j + 1) + [0.0] + [again] * (quarters - j - 2)

    kinds = ["new", "resolved", "worse_large", "worse_near", "better_large", "better_near"] * 2
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    for n, kind in enumerate(kinds):
        j = changing[n % len(changing)]
        if kind == "new":
            before, after = 0.0, float(rng.choice(NEW_LEVELS))
        elif kind == "resolved":
            before, after = float(rng.choice(RESOLVED_LEVELS)), 0.0
        else:
            options = {"worse_large": WORSE_LARGE, "worse_near": WORSE_NEAR, "better_large": BETTER_LARGE, "better_near": BETTER_NEAR}[kind]
            before, after = options[rng.integers(len(options))]
        plan[cells.pop()] = step(j, before, after)
    for cell in cells:
        level = 0.0 if rng.random() < STEADY_ABSENT_SHARE else float(rng.choice(STEADY_LEVELS))
        plan[cell] = [level] * quarters

    parking, smell = UNCATALOGUED_TOPICS
    rising = personas[rng.integers(len(personas))]
    j = int(rng.choice(changing))
    for p in personas:
        plan[(p, parking.key)] = step(j, PARKING_BASE, PARKING_RISEN) if p == rising else [PARKING_BASE] * quarters
    appearing = personas[rng.integers(len(personas))]
    j = int(rng.choice(changing[:-1] if len(changing) > 1 else changing))
    later = [k for k in changing if k > j]
    trajectory = step(j, 0.0, SMELL_LEVEL)
    if later and rng.random() < 0.5:
        k = int(rng.choice(later))
        trajectory = [v if i <= k else 0.0 for i, v in enumerate(trajectory)]
    for p in personas:
        plan[(p, smell.key)] = trajectory if p == appearing else [0.0] * quarters

    prevalence = {p: {t.key: plan[(p, t.key)] for t in TOPICS} for p in personas}
    return prevalence, noise


def planted_changes(periods: Sequence[str], prevalence: Mapping[str, Mapping[str, Sequence[float]]]) -> list[dict[str, Any]]:
    """Every change between consecutive quarters implied by ``prevalence`` (see :func:`change_type`)."""
    out = []
    for persona, topics in prevalence.items():
        for key, values in topics.items():
            for j in range(len(periods) - 1):
                kind = change_type(values[:j], values[j], values[j + 1])
                if kind is None:
                    continue
                out.append({"from": periods[j], "to": periods[j + 1], "persona": persona, "barrier": key,
                            "kind": "catalog" if TOPIC_BY_KEY[key].catalog else "uncatalogued", "type": kind,
                            "size": size_class(values[j], values[j + 1]), "prevalence_from": values[j], "prevalence_to": values[j + 1]})
    return sorted(out, key=lambda c: (c["from"], c["persona"], c["barrier"]))


# -------------------------------------------------------------------------------- simulation
