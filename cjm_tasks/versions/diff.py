"""Compare two versions of a persona's map, or every persona's pair of a refresh at once.

Every barrier either version knows is tested: each catalog barrier (both maps count every one,
active or not), each emerging theme active in either version (a theme is matched by its id, the
hash of its phrase; a version where it was not a theme holds its count when at least
``theme_floor`` customers used the phrase, else the count is taken as ``theme_floor - 1``, the
most it could have been), and each metric barrier. Its status is one of

- ``new``: it rose significantly and is active now, not in the earlier version nor ever before;
- ``returned``: the same, but it was active in a version before the earlier one (``last_seen``);
- ``worsened``: it rose significantly (active before, or under the threshold in both);
- ``improved``: it fell significantly and is still active (or under the threshold in both);
- ``resolved``: it fell significantly and is no longer active;
- ``unchanged``: no material, supported change (a note says when it crossed the threshold
  within noise);
- ``too_few``: either version has fewer customers than ``min_customers``: too few to tell.

A change is flagged when it is both material and statistically supported:

- catalog barriers and themes compare prevalences, customers who mentioned it of the persona's
  active customers (``measures`` of each map), with a two-proportion z-test, or Fisher's exact
  test when an expected count is below 5. Material: the prevalence moved at least
  ``min_share_change`` and ``min_relative_change`` of its earlier value, or by a factor of at
  least ``min_ratio`` and at least ``min_share_floor`` (so a complaint rising from a low base,
  6 -> 42 customers of 1,500, is a change);
- rates and conversion: the same test on their counts; mean scores (CSAT, CES, rating,
  sentiment): Welch's t-test from the means, the standard deviations recovered from the stored
  95% intervals, and the sample sizes; NPS: a z-test with the NPS variance recovered from its
  interval. Which way is worse comes from the map's ``directions`` (configured once).

P-values are adjusted with Benjamini-Hochberg over all the barrier tests of the refresh (every
persona's, :func:`decide`), and separately over the metric and touchpoint tests; ``p_value`` is
the raw value, ``q_value`` the adjusted one that decides. The effect is stored as the difference
with its 95% interval (Newcombe's hybrid score interval for proportions), and the summary's
words are derived from the same numbers, so they always agree.

The tests and intervals are in :mod:`~cjm_tasks.versions.stats`, the summary and the Markdown in
:mod:`~cjm_tasks.versions.wording`, a map's barriers and their history in
:mod:`~cjm_tasks.versions.history`.
"""

from __future__ import annotations

import math
from typing import Any

from cjm_tasks.config import BUILT_IN_BETTER, DiffConfig
from cjm_tasks.versions.history import UNPLACED, active_barriers
from cjm_tasks.versions.stats import benjamini_hochberg, difference_interval, means_p, nps_p, two_proportion_p
from cjm_tasks.versions.wording import summarize

FLAGGED = ("new", "returned", "worsened", "improved", "resolved")
STATUSES = (*FLAGGED, "unchanged", "too_few")
PROPORTIONS = ("reached_share", "conversion_to_next")
MEANS = ("csat", "ces", "rating", "sentiment")
# Why an entry is what it is: ``note_code`` in each entry (pages translate it), ``note`` in English.
NOTES = {
    "first_version": "first version",
    "old_schema": "the earlier version was counted differently (an older map schema)",
    "not_in_catalog": "no longer in the catalog",
    "too_few": "too few customers to tell",
    "crossed_noise": "crossed the detection threshold; the change is within noise",
    "crossed_small": "crossed the detection threshold; the change is under the materiality limits",
    "fell_noise": "fell under the detection threshold; the change is within noise",
    "fell_small": "fell under the detection threshold; the change is under the materiality limits",
    "small": "significant, but under the materiality limits",
    "rare": "mentioned too rarely in the two versions to test",
    "under_both": "under the detection threshold in both versions",
}


# ------------------------------------------------------------------------------ barriers


def _stage(doc: dict[str, Any] | None, stage_id: str) -> dict[str, Any] | None:
    if not doc:
        return None
    return next((s for s in doc["stages"] if s["id"] == stage_id), None)


def _directions(doc: dict[str, Any] | None) -> dict[str, str]:
    # Maps of schema 1 carry no directions: the built-in ones stand in for them.
    return {**BUILT_IN_BETTER, **((doc or {}).get("directions") or {})}


def _metric_measure(doc: dict[str, Any] | None, metric: str | None, stage_id: str) -> dict[str, Any] | None:
    """The measure behind a metric barrier in ``doc`` (flagged there or not): a proportion or a mean."""
    stage = _stage(doc, stage_id)
    if stage is None or metric is None:
        return None
    metrics = stage["metrics"]
    if metric in metrics.get("rates", {}):
        rate = metrics["rates"][metric]
        return {"type": "share", "x": rate["numerator"], "n": rate["denominator"], "value": rate["value"]}
    if metric in PROPORTIONS:
        n = metrics["samples"].get(metric, 0)
        value = metrics.get(metric)
        return {"type": "share", "x": round((value or 0) * n), "n": n, "value": value}
    if metric == "nps":
        return {"type": "nps", "value": metrics.get("nps"), "n": metrics["samples"].get("nps", 0), "ci": metrics["intervals"].get("nps")}
    return {"type": "mean", "value": metrics.get(metric), "n": metrics["samples"].get(metric, 0), "ci": metrics["intervals"].get(metric)}


def _material_prevalence(old: float, new: float, config: DiffConfig) -> bool:
    delta = abs(new - old)
    relative = delta / old if old else math.inf
    low, high = min(old, new), max(old, new)
    ratio = high / low if low else math.inf
    return (delta >= config.min_prevalence_change and relative >= config.min_relative_change) or \
        (ratio >= config.min_ratio and delta >= config.min_share_floor)


def _compare(old: dict[str, Any] | None, new: dict[str, Any] | None, config: DiffConfig) -> tuple[float | None, float | None, bool]:
    """(delta, p-value, material) of a metric measure between two versions."""
    if not old or not new or old.get("value") is None or new.get("value") is None:
        return None, None, False
    delta = new["value"] - old["value"]
    if old["type"] == "share":
        p = two_proportion_p(old["x"], old["n"], new["x"], new["n"])
        relative = abs(delta) / old["value"] if old["value"] else math.inf
        return delta, p, abs(delta) >= config.min_share_change and relative >= config.min_relative_change
    if old["type"] == "nps":
        p = nps_p(old["value"], old.get("ci"), old["n"], new["value"], new.get("ci"), new["n"])
        return delta, p, abs(delta) >= config.min_nps_change
    p = means_p(old["value"], old.get("ci"), old["n"], new["value"], new.get("ci"), new["n"])
    return delta, p, abs(delta) >= config.min_score_change


def _counted(doc: dict[str, Any] | None) -> bool:
    return bool(doc) and "measures" in doc


def _prevalence_tests(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """One test row per catalog barrier and per theme active in either version."""
    from cjm_tasks.maps.barriers import impact_from_negativity, severity

    rows: list[dict[str, Any]] = []
    m_new = new["measures"]
    m_old = old["measures"] if _counted(old) else None
    listed_new, listed_old = active_barriers(new), active_barriers(old)
    half = m_new.get("severity_half", 0.1)

    def side(measure: dict[str, Any] | None, measures: dict[str, Any], bound: int | None = None) -> dict[str, Any]:
        customers = measure["customers"] if measure else bound if bound is not None else 0
        n = measures["denominator"]
        return {"customers": customers, "denominator": n, "unit": measures["unit"], "prevalence": round(customers / n, 5) if n else None,
                "active": bool(measure and measure.get("active")), "bound": measure is None and bool(bound)}

    def add(kind: str, barrier_id: str, a: dict[str, Any], b: dict[str, Any], ref: dict[str, Any], negativities: list[float | None]):
        known = [v for v in negativities if v is not None]
        impact = impact_from_negativity(sum(known) / len(known) if known else None)
        listed = listed_new.get(barrier_id) or listed_old.get(barrier_id) or {}
        rows.append({"id": barrier_id, "kind": kind, "title": ref.get("title") or listed.get("title") or barrier_id,
                     "stage": listed.get("stage") or ref.get("stage") or UNPLACED, "from": a, "to": b,
                     "phrases": ref.get("phrases"), "worse_when": "higher",
                     "severity_from": severity(a["prevalence"], impact, half) if a else None,
                     "severity_to": severity(b["prevalence"], impact, half) if b else None})

    for barrier_id, b in sorted(m_new["catalog"].items()):
        a = (m_old["catalog"].get(barrier_id) if m_old else None)
        if m_old is not None and a is None and not b["active"] and b["customers"] == 0:
            continue
        add("catalog", barrier_id, side(a, m_old) if m_old else None, side(b, m_new), b, [(a or {}).get("negativity"), b.get("negativity")])
    if m_old is not None:
        for barrier_id, a in sorted(m_old["catalog"].items()):
            if barrier_id not in m_new["catalog"] and a["active"]:
                # Taken out of the catalog: no longer counted, so nothing to test.
                add("catalog", barrier_id, side(a, m_old), None, a, [a.get("negativity")])

    themes_new, themes_old = m_new.get("themes", {}), (m_old or {}).get("themes", {})
    merged_new = {p for t in themes_new.values() if t.get("active") for p in t.get("phrases", [t["phrase"]])}
    for theme_id in sorted(set(themes_new) | set(themes_old)):
        a, b = themes_old.get(theme_id), themes_new.get(theme_id)
        if not (a or {}).get("active") and not (b or {}).get("active"):
            continue
        ref = b if (b or {}).get("active") else a
        if ref is a and a["phrase"] in merged_new:
            continue  # now a phrasing of another theme: that theme's own row tests the complaint
        floor = (m_old or m_new).get("theme_floor", 3) - 1
        ref = {**ref, "title": ref.get("label") or ref["phrase"], "phrases": ref.get("phrases", [ref["phrase"]])}
        add("emerging", theme_id, side(a, m_old, floor) if m_old else None, side(b, m_new, m_new.get("theme_floor", 3) - 1), ref,
            [(a or {}).get("negativity"), (b or {}).get("negativity")])
    return rows


def _metric_tests(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """One test row per metric barrier listed in either version."""
    rows = []
    listed_new, listed_old = active_barriers(new), active_barriers(old)
    directions = _directions(new)
    for barrier_id in sorted(set(listed_new) | set(listed_old)):
        o, n = listed_old.get(barrier_id), listed_new.get(barrier_id)
        ref = n or o
        if ref["kind"] != "metric":
            continue
        metric = ref["evidence"].get("metric")
        m_old, m_new = _metric_measure(old, metric, ref["stage"]), _metric_measure(new, metric, ref["stage"])
        rows.append({"id": barrier_id, "kind": "metric", "title": ref["title"], "stage": ref["stage"], "metric": metric,
                     "worse_when": "lower" if directions.get(metric, ref["evidence"].get("better", "lower")) == "higher" else "higher",
                     "from": {"value": m_old.get("value") if m_old else None, "active": o is not None, "measure": m_old} if old else None,
                     "to": {"value": m_new.get("value") if m_new else None, "active": n is not None, "measure": m_new},
                     "severity_from": o["severity"] if o else None, "severity_to": n["severity"] if n else None, "phrases": None})
    return rows


def compare_maps(old: dict[str, Any] | None, new: dict[str, Any], config: DiffConfig, old_version: str | None = None,
                 new_version: str | None = None, last_seen: dict[str, str] | None = None) -> dict[str, Any]:
    """The tests of one persona's pair of versions, before the decisions :func:`decide` takes.

    ``last_seen``: {barrier id: the latest version before ``old`` where it was active}, so a
    barrier that comes back is ``returned``, not ``new``.
    """
    tests = []
    comparable = old is None or _counted(old)
    too_few = bool(new.get("measures", {}).get("too_few")) or bool(_counted(old) and old["measures"].get("too_few"))
    rows = (_prevalence_tests(old if comparable else None, new) if _counted(new) else []) + _metric_tests(old, new)
    for row in rows:
        a, b = row["from"], row["to"]
        row.update(p=None, material=False, effect=None, note=None, last_seen=(last_seen or {}).get(row["id"]))
        if old is None or a is None:
            row["note"] = "first_version" if old is None else "old_schema"
        elif b is None:
            row["note"] = "not_in_catalog"
            row["to"] = {"customers": None, "denominator": None, "unit": None, "prevalence": None, "active": False, "bound": False}
        elif row["kind"] == "metric":
            delta, p, material = _compare(a["measure"], b["measure"], config)
            row.update(p=p, material=material)
            if a["measure"] and a["measure"]["type"] == "share" and b["measure"] and a["measure"]["n"] and b["measure"]["n"]:
                row["effect"] = difference_interval(a["measure"]["x"], a["measure"]["n"], b["measure"]["x"], b["measure"]["n"])
            elif delta is not None:
                row["effect"] = (delta, None, None)
        elif too_few and row["kind"] != "metric":
            row["note"] = "too_few"
        elif a["customers"] + b["customers"] < config.min_tested_mentions:
            row["note"] = "rare"
        else:
            row["p"] = two_proportion_p(a["customers"], a["denominator"], b["customers"], b["denominator"])
            row["effect"] = difference_interval(a["customers"], a["denominator"], b["customers"], b["denominator"])
            row["material"] = a["prevalence"] is not None and b["prevalence"] is not None and _material_prevalence(a["prevalence"], b["prevalence"], config)
        tests.append(row)
    metrics, touchpoints = (_metric_changes(old, new, config), _touchpoint_changes(old, new, config)) if old else ([], [])
    return {
        "persona": new["persona"]["id"],
        "persona_name": new["persona"]["name"],
        "stage_names": {s["id"]: s["name"] for s in new["stages"]},
        "from": old_version,
        "to": new_version,
        "from_period": old["period"] if old else None,
        "to_period": new["period"],
        "unit": new.get("measures", {}).get("unit", "customers"),
        "too_few": too_few,
        "min_customers": new.get("measures", {}).get("min_customers"),
        "method": {"alpha": config.alpha, "min_share_change": config.min_share_change,
                   "min_relative_change": config.min_relative_change, "min_prevalence_change": config.min_prevalence_change,
                   "min_ratio": config.min_ratio, "min_tested_mentions": config.min_tested_mentions,
                   "min_share_floor": config.min_share_floor, "min_score_change": config.min_score_change,
                   "min_nps_change": config.min_nps_change, "min_touchpoint_change": config.min_touchpoint_change,
                   "prevalence": "customers who mentioned it / the persona's active customers (texts where no customer ids)",
                   "tests": "two-proportion z (Fisher exact when an expected count < 5); Welch t from summary statistics; NPS z",
                   "effect": "difference with its 95% interval (Newcombe hybrid score for proportions)",
                   "multiple_testing": "Benjamini-Hochberg over every barrier test of the refresh; metrics and touchpoints separately"},
        "_tests": tests,
        "metrics": metrics,
        "touchpoints": touchpoints,
    }


def decide(raw: list[dict[str, Any]], config: DiffConfig) -> list[dict[str, Any]]:
    """Statuses of every barrier of every raw diff (:func:`compare_maps`), with one
    Benjamini-Hochberg adjustment over all their barrier tests, and their summaries."""
    tests = [t for diff in raw for t in diff["_tests"]]
    for row, q in zip(tests, benjamini_hochberg([t["p"] for t in tests])):
        row["q"] = q
    for family in ("metrics", "touchpoints"):
        _adjust([row for diff in raw for row in diff[family]], config)
    out = []
    for diff in raw:
        first = diff["from"] is None and diff["from_period"] is None
        barriers = [_decide_one(t, config, first) for t in diff["_tests"]]
        barriers = [b for b in barriers if b is not None]
        barriers.sort(key=lambda b: (STATUSES.index(b["status"]), -max(b["severity_to"] or 0, b["severity_from"] or 0), b["id"]))
        result = {k: v for k, v in diff.items() if k != "_tests"}
        result["barriers"] = barriers
        result["counts"] = {status: sum(b["status"] == status for b in barriers) for status in STATUSES}
        result["summary"] = summarize(result)
        out.append(result)
    return out


def diff_maps(old: dict[str, Any] | None, new: dict[str, Any], config: DiffConfig, old_version: str | None = None,
              new_version: str | None = None, last_seen: dict[str, str] | None = None) -> dict[str, Any]:
    """The diff of two maps of one persona (``old`` None: the first version, every active barrier is new)."""
    return decide([compare_maps(old, new, config, old_version, new_version, last_seen)], config)[0]


def _decide_one(t: dict[str, Any], config: DiffConfig, first: bool) -> dict[str, Any] | None:
    a, b = t["from"], t["to"]
    active_old, active_new = bool(a and a["active"]), bool(b and b["active"])
    if first:
        if not active_new:
            return None
        return _entry(t, "new", True, None)
    if t["note"] == "too_few":
        return _entry(t, "too_few", False, t["note"])
    if not active_old and not active_new and t["kind"] != "emerging" and not (t["material"] and t["q"] is not None and t["q"] < config.alpha):
        # Known to the catalog but met by nobody worth reporting in either version: nothing to say.
        return None if (a or {}).get("customers", 0) == 0 and (b or {}).get("customers", 0) == 0 else _entry(t, "unchanged", False, None)
    if t["note"] == "rare":
        return _entry(t, "unchanged", False, t["note"] if active_old != active_new else None)
    if t["note"]:
        return _entry(t, "unchanged", False, t["note"])
    effect = t["effect"][0] if t["effect"] else None
    supported = bool(t["material"] and t["q"] is not None and t["q"] < config.alpha and effect)
    if not supported:
        why = "small" if t["q"] is not None and t["q"] < config.alpha and effect else "noise"
        note = None
        if active_new and not active_old:
            note = f"crossed_{why}"
        elif active_old and not active_new:
            note = f"fell_{why}"
        elif why == "small":
            note = "small"
        return _entry(t, "unchanged", False, note)
    worse = effect > 0 if t["worse_when"] == "higher" else effect < 0
    if worse:
        status = "worsened" if active_old or not active_new else ("returned" if t["last_seen"] else "new")
    else:
        status = "resolved" if active_old and not active_new else "improved"
    note = "under_both" if not active_old and not active_new else None
    return _entry(t, status, True, note)


def _entry(t: dict[str, Any], status: str, flagged: bool, note: str | None) -> dict[str, Any]:
    a, b = t["from"], t["to"]
    key = "value" if t["kind"] == "metric" else "prevalence"
    effect = t.get("effect")
    entry = {
        "id": t["id"],
        "title": t["title"],
        "kind": t["kind"],
        "stage": t["stage"],
        "status": status,
        "flagged": bool(flagged),
        "direction": None if not effect or not effect[0] else ("up" if effect[0] > 0 else "down"),
        "worse_when": t["worse_when"],
        "severity_from": t["severity_from"] if a else None,
        "severity_to": t["severity_to"],
        "value_from": _r(a.get(key)) if a else None,
        "value_to": _r(b.get(key)) if b else None,
        "evidence_from": _evidence(a),
        "evidence_to": _evidence(b),
        "effect": None if not effect else {"difference": _r(effect[0]), "low": _r(effect[1]), "high": _r(effect[2])},
        "p_value": _r(t.get("p"), 5),
        "q_value": _r(t.get("q"), 5),
        "note": NOTES[note] if note else None,
        "note_code": note,
        "last_seen": t["last_seen"] if status == "returned" else None,
    }
    if t["kind"] == "metric":
        entry["metric"] = t.get("metric")
    if t.get("phrases"):
        entry["phrases"] = t["phrases"]
    return entry


def _evidence(side: dict[str, Any] | None) -> dict[str, Any] | None:
    if not side:
        return None
    if "customers" in side:
        return {k: side[k] for k in ("customers", "denominator", "unit", "prevalence", "active", "bound")}
    measure = side.get("measure") or {}
    return {"value": side.get("value"), "active": side["active"], "numerator": measure.get("x"), "denominator": measure.get("n")}


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _metric_changes(old: dict[str, Any], new: dict[str, Any], config: DiffConfig) -> list[dict[str, Any]]:
    """Every stage metric measured in both versions: from, to, delta, p-value, whether the
    change is material, and whether it is for the ``better`` or ``worse`` (from ``directions``)."""
    out = []
    directions = _directions(new)
    for stage in new["stages"]:
        before = _stage(old, stage["id"])
        if before is None:
            continue
        a, b = before["metrics"], stage["metrics"]
        names = [*PROPORTIONS, "nps", *MEANS, "emotion", *sorted(b.get("rates", {}))]
        for name in names:
            if name in b.get("rates", {}):
                ra, rb = a.get("rates", {}).get(name), b["rates"][name]
                if not ra or ra["value"] is None or rb["value"] is None:
                    continue
                m_old = {"type": "share", "x": ra["numerator"], "n": ra["denominator"], "value": ra["value"]}
                m_new = {"type": "share", "x": rb["numerator"], "n": rb["denominator"], "value": rb["value"]}
            elif name in PROPORTIONS:
                m_old = {"type": "share", "x": round((a.get(name) or 0) * a["samples"].get(name, 0)), "n": a["samples"].get(name, 0), "value": a.get(name)}
                m_new = {"type": "share", "x": round((b.get(name) or 0) * b["samples"].get(name, 0)), "n": b["samples"].get(name, 0), "value": b.get(name)}
            elif name == "emotion":
                if a.get(name) is None or b.get(name) is None:
                    continue
                out.append({"stage": stage["id"], "metric": name, "from": a[name], "to": b[name], "delta": _r(b[name] - a[name]),
                            "better": "higher", "change": None, "p_value": None, "material": False})  # derived: reported, never flagged
                continue
            else:
                kind = "nps" if name == "nps" else "mean"
                m_old = {"type": kind, "value": a.get(name), "n": a["samples"].get(name, 0), "ci": a["intervals"].get(name)}
                m_new = {"type": kind, "value": b.get(name), "n": b["samples"].get(name, 0), "ci": b["intervals"].get(name)}
            delta, p, material = _compare(m_old, m_new, config)
            if delta is None:
                continue
            better = directions.get(name, "higher")
            change = None if not delta else ("worse" if (delta > 0) == (better == "lower") else "better")
            out.append({"stage": stage["id"], "metric": name, "from": m_old["value"], "to": m_new["value"], "delta": _r(delta),
                        "better": better, "change": change, "p_value": _r(p, 5), "material": material})
    return out


def _adjust(rows: list[dict[str, Any]], config: DiffConfig) -> None:
    """Add q-values over the tested rows; ``material`` becomes ``flagged``: material and q < alpha."""
    q_values = benjamini_hochberg([r["p_value"] for r in rows])
    for row, q in zip(rows, q_values):
        row["q_value"] = _r(q, 5)
        row["flagged"] = bool(row.pop("material") and q is not None and q < config.alpha)


def _touchpoint_changes(old: dict[str, Any], new: dict[str, Any], config: DiffConfig) -> list[dict[str, Any]]:
    out = []
    for stage in new["stages"]:
        before = _stage(old, stage["id"])
        if before is None:
            continue
        a = {t["channel"]: t for t in before["touchpoints"]}
        b = {t["channel"]: t for t in stage["touchpoints"]}
        na, nb = sum(t["events"] for t in a.values()), sum(t["events"] for t in b.values())
        for channel in sorted(set(a) | set(b)):
            xa, xb = a.get(channel, {}).get("events", 0), b.get(channel, {}).get("events", 0)
            sa, sb = (xa / na if na else 0.0), (xb / nb if nb else 0.0)
            p = two_proportion_p(xa, na, xb, nb)
            delta = sb - sa
            out.append({"stage": stage["id"], "channel": channel, "from": _r(sa), "to": _r(sb), "delta": _r(delta), "p_value": _r(p, 5),
                        "material": abs(delta) >= config.min_touchpoint_change})
    return out
