"""Scoring stored diffs against the truth, pooling seeds into precision and recall with Wilson
intervals, and measuring how much of the written text the catalog's keywords read.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cjm_demo.evaluation_data.complaints import COMPLAINTS, ITEMS_EN, ITEMS_RU, PLAIN
from cjm_demo.evaluation_data.world import (
    CATALOG_TOPICS, DIRECTION, TOPICS, TOPIC_BY_KEY, Topic, UNCATALOGUED_TOPICS, change_type, size_class,
)
from cjm_demo.evaluation_data.writers import read_truth

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig

FLAG_STATUSES = ("new", "returned", "resolved", "worsened", "improved")
MANY_TEXTS = 300
"""Customers with text per persona from which the must-reach targets apply."""


def _from_period(diff: Mapping[str, Any]) -> str | None:
    if diff.get("from_period"):
        return str(diff["from_period"])
    source = diff.get("from")
    return str(source).split("-")[0] if source else None


def _phrases(entry: Mapping[str, Any]) -> list[str]:
    evidence = entry.get("evidence_to") or entry.get("evidence_from") or entry.get("evidence") or {}
    found = list(entry.get("phrases") or []) + [entry.get("title"), evidence.get("phrase") if isinstance(evidence, dict) else None]
    return [str(p).lower() for p in found if p]


def match_topic(entry: Mapping[str, Any], topics: Sequence[Topic] = UNCATALOGUED_TOPICS) -> str | None:
    """The uncatalogued topic an emerging entry stands for: the first whose signature word is
    part of one of the entry's phrases (or title); None when none is."""
    phrases = [f" {p} " for p in _phrases(entry)]
    for topic in topics:
        if any(word in phrase for word in topic.signature for phrase in phrases):
            return topic.key
    return None


@lru_cache(maxsize=1)
def _written_phrasings() -> dict[str, tuple[str, ...]]:
    """Every phrasing the world writes about each catalog topic, normalised, with each product
    filled in: to recognise an emerging theme that is a paraphrase of a catalog barrier."""
    from cjm_tasks.maps.text import normalize_one

    out = {}
    for topic in CATALOG_TOPICS:
        texts = set()
        for pool in (COMPLAINTS[topic.key], PLAIN.get(topic.key, {})):
            for templates in pool.values():
                for template in templates:
                    for item, (nom, acc, gen) in zip(ITEMS_EN, ITEMS_RU):
                        texts.add(normalize_one(template.format(item=item, nom=nom, acc=acc, gen=gen, mins=20, days=5)))
        out[topic.key] = tuple(sorted(texts))
    return out


def echoed_topic(entry: Mapping[str, Any]) -> str | None:
    """The catalog topic whose written phrasings contain the emerging entry's phrases (the
    topic with most phrases found; None when no phrase is a phrasing the world writes)."""
    from cjm_tasks.maps.text import normalize_one

    phrases = [normalize_one(p) for p in _phrases(entry)]
    hits = {key: sum(any(p in text for text in texts) for p in phrases) for key, texts in _written_phrasings().items()}
    best = max(hits, key=lambda k: hits[k])
    return best if hits[best] else None


def _entries(diff: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The diff's barrier entries, read defensively: ``barriers`` (catalog, metric and, in the
    newer contract, emerging) plus an older diff's separate ``emerging`` list, whose
    appeared/gone entries are never flagged."""
    out = []
    for entry in diff.get("barriers") or []:
        status = entry.get("status")
        out.append({**entry, "kind": entry.get("kind") or "catalog",
                    "flagged": bool(entry.get("flagged", status in FLAG_STATUSES)), "listed_only": False})
    for entry in diff.get("emerging") or []:
        out.append({**entry, "kind": "emerging", "flagged": bool(entry.get("flagged", False)), "listed_only": True})
    return out


def _evidence(entries: Sequence[Mapping[str, Any]], side: str, field: str) -> Any:
    evidence = entries[0].get(side) if entries else None
    return evidence.get(field) if isinstance(evidence, dict) else None


def score(truth: Mapping[str, Any], diffs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Compare one seed's stored diffs with its truth.

    Returns ``{"units": [...], "noise": [...], "metric": [...]}``. A unit is one (persona, quarter
    pair, topic) that truly changed or appears in the diff, with what truly happened
    (``truth_type``, ``size``, the prevalences, customers with text) and what the diff said
    (``status``, ``flagged``, whether the direction and the exact type match). Units by kind:

    - ``catalog``: a catalog barrier's entry, by id;
    - ``emerging``: emerging themes whose phrases name an uncatalogued topic, grouped by topic;
      a theme naming nothing the world writes is a unit of its own (truth: no change);
    - ``emerging_echo``: emerging themes that are phrasings the world writes about a *catalog*
      topic (complaints the keywords missed), grouped by that topic. Their flags count for
      precision (right when the topic truly moved that way); they add no true change to recall.

    ``noise`` lists every tested entry (status not ``too_few``) of the noise-only pairs with
    whether it was flagged; ``metric`` every metric entry, which the truth does not cover.
    """
    periods = truth["periods"]
    noise_pairs = {(p["from"], p["to"]) for p in truth["pairs"] if p["noise_only"]}
    prevalence = truth["prevalence"]
    units: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    metric: list[dict[str, Any]] = []
    for record in diffs:
        to = record["period"]
        frm = _from_period(record["diff"])
        if frm is None or to not in periods or frm not in periods or periods.index(frm) != periods.index(to) - 1:
            continue
        persona = record["persona"]
        j = periods.index(to)
        is_noise = (frm, to) in noise_pairs
        texts = (truth["counts"][frm].get(persona, {}).get("customers_with_text", 0),
                 truth["counts"][to].get(persona, {}).get("customers_with_text", 0))
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in _entries(record["diff"]):
            if entry["kind"] == "metric":
                metric.append({"seed": truth["seed"], "persona": persona, "from": frm, "to": to, "noise_only": is_noise,
                               "id": entry.get("id"), "status": entry.get("status"), "flagged": entry["flagged"]})
                continue
            if entry["kind"] == "catalog":
                grouped.setdefault(("catalog", str(entry.get("id"))), []).append(entry)
            elif topic := match_topic(entry):
                grouped.setdefault(("emerging", topic), []).append(entry)
            elif topic := echoed_topic(entry):
                grouped.setdefault(("emerging_echo", topic), []).append(entry)
            else:
                grouped.setdefault(("emerging", str(entry.get("id"))), []).append(entry)
        persona_truth = {key: [prevalence[p][persona][key] for p in periods] for key in prevalence[to].get(persona, {})}
        for key, history in persona_truth.items():
            grouped.setdefault(("catalog" if TOPIC_BY_KEY[key].catalog else "emerging", key), [])
        for (kind, key), entries in sorted(grouped.items()):
            history = persona_truth.get(key)
            before, after = (history[j - 1], history[j]) if history else (0.0, 0.0)
            kind_truth = change_type(history[: j - 1], before, after) if history else None
            if not entries and kind_truth is None:
                continue
            tested = [e for e in entries if e.get("status") != "too_few" and not e["listed_only"]]
            flagged = [e for e in entries if e["flagged"]]
            directions = {DIRECTION.get(str(e.get("status"))) or e.get("direction") for e in flagged}
            direction = directions.pop() if len(directions) == 1 else ("mixed" if directions else None)
            status = flagged[0].get("status") if flagged else (entries[0].get("status") if entries else None)
            listed = {DIRECTION.get({"appeared": "new", "gone": "resolved"}.get(str(e.get("status")), ""))
                      for e in entries if e["listed_only"]}
            units.append({
                "seed": truth["seed"], "shape": truth["survey_shape"], "persona": persona, "from": frm, "to": to,
                "noise_only": is_noise, "barrier": key, "kind": kind, "counts_for_recall": kind != "emerging_echo",
                "truth_type": kind_truth, "truth_direction": DIRECTION.get(kind_truth) if kind_truth else None,
                "size": size_class(before, after) if kind_truth else None, "prevalence_from": before, "prevalence_to": after,
                "texts_from": texts[0], "texts_to": texts[1], "many_texts": min(texts) >= MANY_TEXTS,
                "entries": [str(e.get("id")) for e in entries], "tested": bool(tested), "flagged": bool(flagged),
                "status": status, "direction": direction,
                "right_direction": bool(flagged) and kind_truth is not None and direction == DIRECTION[kind_truth],
                "exact": bool(flagged) and kind_truth is not None and len(flagged) == 1 and status == kind_truth,
                "listed_direction": bool(kind_truth) and DIRECTION[kind_truth] in listed,
                # What the diff measured (the first entry), to tell a weak signal from a strict rule.
                "measured_from": _evidence(entries, "evidence_from", "customers"),
                "measured_to": _evidence(entries, "evidence_to", "customers"),
                "denominator_to": _evidence(entries, "evidence_to", "denominator"),
                "q_value": entries[0].get("q_value") if entries else None,
            })
            if is_noise:
                noise.extend({"seed": truth["seed"], "persona": persona, "from": frm, "to": to,
                              "kind": "emerging" if kind == "emerging_echo" else kind, "barrier": key, "id": str(e.get("id")),
                              "status": e.get("status"), "flagged": e["flagged"]} for e in tested)
        if is_noise:
            noise.extend({"seed": truth["seed"], "persona": persona, "from": frm, "to": to, "kind": "metric", "barrier": m["id"],
                          "id": m["id"], "status": m["status"], "flagged": m["flagged"]}
                         for m in metric if m["persona"] == persona and m["to"] == to and m["status"] != "too_few")
    return {"units": units, "noise": noise, "metric": metric}


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float | None, float | None, float | None]:
    """(share, low, high): the share and its Wilson score interval; Nones when ``total`` is 0."""
    if total == 0:
        return None, None, None
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _rate(successes: int, total: int) -> dict[str, Any]:
    share, low, high = wilson(successes, total)
    return {"k": successes, "n": total, "value": share, "low": low, "high": high}


def _scores(units: Sequence[Mapping[str, Any]], changes=lambda u: True) -> dict[str, Any]:
    """Precision and recall (exact type and direction) over ``units``; ``changes`` keeps a subset
    of the true changes (e.g. large ones) while every flag on an unchanged barrier still counts
    against precision."""
    scope = [u for u in units if u["truth_type"] is None or changes(u)]
    true = [u for u in scope if u["truth_type"] and u["counts_for_recall"]]
    flagged = [u for u in scope if u["flagged"]]
    return {
        "true_changes": len(true), "flagged": len(flagged),
        "recall_direction": _rate(sum(u["right_direction"] for u in true), len(true)),
        "recall_exact": _rate(sum(u["exact"] for u in true), len(true)),
        "precision_direction": _rate(sum(u["right_direction"] for u in flagged), len(flagged)),
        "precision_exact": _rate(sum(u["exact"] for u in flagged), len(flagged)),
    }


def summarize(scored: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pool the :func:`score` results of several seeds into the evaluation's figures.

    Precision counts every flagged unit: a flag on a barrier whose prevalence did not change, or
    in the wrong direction, is a false positive. Restricting to a size class keeps that class's
    true changes and every unchanged unit (the flags a detector raises without a change are
    raised whatever the size of the real changes). Intervals are Wilson 95%.
    """
    units = [u for s in scored for u in s["units"]]
    noise = [n for s in scored for n in s["noise"]]
    metric = [m for s in scored for m in s["metric"]]
    out: dict[str, Any] = {"seeds": len(scored), "overall": _scores(units)}
    out["target_large_many_texts"] = _scores([u for u in units if u["many_texts"]], lambda u: u["size"] == "large")
    out["target_large_many_texts_catalog"] = _scores([u for u in units if u["many_texts"] and u["kind"] == "catalog"],
                                                     lambda u: u["size"] == "large")
    out["by_part"] = {kind: _scores([u for u in units if u["kind"] == kind]) for kind in ("catalog", "emerging", "emerging_echo")}
    out["by_size"] = {size: _scores(units, lambda u, size=size: u["size"] == size) for size in ("large", "near_limit")}
    out["by_texts"] = {f">={MANY_TEXTS}": _scores([u for u in units if u["many_texts"]]),
                       f"<{MANY_TEXTS}": _scores([u for u in units if not u["many_texts"]])}
    out["by_shape"] = {shape: _scores([u for u in units if u["shape"] == shape]) for shape in ("wide", "long")}
    by_type = {}
    for kind in ("new", "returned", "worsened", "improved", "resolved"):
        true = [u for u in units if u["truth_type"] == kind and u["counts_for_recall"]]
        said = [u for u in units if u["flagged"] and u["status"] == kind]
        by_type[kind] = {"true_changes": len(true),
                         "recall_direction": _rate(sum(u["right_direction"] for u in true), len(true)),
                         "recall_exact": _rate(sum(u["exact"] for u in true), len(true)),
                         "flagged_as": len(said), "precision_exact": _rate(sum(u["exact"] for u in said), len(said))}
    out["by_type"] = by_type
    out["noise_only"] = {kind: _rate(sum(n["flagged"] for n in noise if n["kind"] == kind), sum(n["kind"] == kind for n in noise))
                         for kind in ("catalog", "emerging", "metric")}
    out["noise_only"]["catalog+emerging"] = _rate(sum(n["flagged"] for n in noise if n["kind"] != "metric"),
                                                  sum(n["kind"] != "metric" for n in noise))
    emerging_true = [u for u in units if u["kind"] == "emerging" and u["truth_type"]]
    out["emerging_listed"] = _rate(sum(u["listed_direction"] or u["right_direction"] for u in emerging_true), len(emerging_true))
    out["metric_flags"] = {"flagged": sum(m["flagged"] for m in metric), "entries": len(metric)}
    return out


def keyword_coverage(data_dir: str | os.PathLike, config: CjmConfig) -> dict[str, dict[str, Any]]:
    """How much of the written text the catalog can read: per topic, of the complaint texts
    about it (every quarter of ``data_dir``), the share with no catalog keyword at all, the
    share where its own barrier's keywords match, and the share where another barrier's do;
    for praise, neutral and vague texts, the share matching any barrier.

    Texts about several topics count for each. Uses the catalog's keywords alone, as written
    (``catalog_matcher(config, word_forms=False, similarity=False)``): this measures how the
    texts were written, not how well the full detector reads them (benchmarks/eval_detection.py).
    """
    import pandas as pd

    from cjm_tasks.maps.text_features import catalog_matcher

    rows = []
    for period in read_truth(data_dir)["periods"]:
        with open(Path(data_dir) / period / "text_labels.jsonl", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    texts = pd.Series([r["text"] for r in rows])
    matches = catalog_matcher(config, word_forms=False, similarity=False).match(texts)
    labels_by_row = matches.groupby("row")["label"].agg(set).to_dict()
    out: dict[str, dict[str, Any]] = {}
    for key in [t.key for t in TOPICS] + ["praise", "neutral", "vague"]:
        picked = [i for i, r in enumerate(rows) if (key in r["topics"] if ":" in key or key in TOPIC_BY_KEY else r["tone"] == key)]
        if not picked:
            continue
        found = [labels_by_row.get(i, set()) for i in picked]
        own = [key in f for f in found]
        # Another barrier: one the text is not about (a text about two topics may match both).
        other = [bool(f - set(rows[i]["topics"])) for i, f in zip(picked, found)]
        out[key] = {"texts": len(picked), "keyword_free": sum(not f for f in found) / len(picked),
                    "own_barrier": sum(own) / len(picked), "other_barrier": sum(other) / len(picked)}
    return out
