"""Compare two versions of a persona's map.

Every catalog and metric barrier of either version is classified ``new``, ``resolved``,
``worsened``, ``improved`` or ``unchanged``. A change is flagged only when it is both material
(the underlying measure moved by at least the configured minimum) and statistically supported
for the sample sizes (p < ``alpha``):

- shares and rates (a barrier's share of texts, cancellation rate, conversion): two-proportion
  z-test, or Fisher's exact test when an expected count is below 5;
- mean scores (CSAT, CES, rating, sentiment): Welch's t-test from the means, the standard
  deviations recovered from the stored 95% intervals, and the sample sizes;
- NPS: a z-test with the NPS variance (p + d - (p - d)^2) / n, recovered from the interval.

Each diff runs many tests (every barrier, every stage metric, every channel), so p-values are
adjusted with Benjamini-Hochberg within each family (barriers, metrics, touchpoints) to keep the
false discovery rate at ``alpha``; ``p_value`` is the raw value, ``q_value`` the adjusted one that
decides. For shares and rates a change must also be at least ``min_relative_change`` of the
earlier value (3 points matter at 5%, not at 60%).

A barrier flagged in only one version whose measure did not move significantly is
``unchanged`` with the note that it crossed the threshold within noise. Emerging themes have no
measure in the other version, so they are listed (appeared / gone) but never flagged. Stage
metric and touchpoint-share changes are reported with their delta, p-value and flag.
"""

from __future__ import annotations

import math
from typing import Any

from cjm_tasks.config import DiffConfig

FLAGGED = ("new", "resolved", "worsened", "improved")
PROPORTIONS = ("reached_share", "conversion_to_next")
MEANS = ("csat", "ces", "rating", "sentiment")
HIGHER_IS_WORSE = {"ces"}


# ------------------------------------------------------------------------------ statistics


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value that x1/n1 and x2/n2 differ (Fisher exact for small counts)."""
    from scipy import stats

    if n1 <= 0 or n2 <= 0:
        return None
    x1, x2 = min(max(0, x1), n1), min(max(0, x2), n2)
    pooled = (x1 + x2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected < 5:
        return float(stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(x1 / n1 - x2 / n2) / se))


def _sd_from_interval(mean: float, interval: list[float] | None, n: int) -> float | None:
    from scipy import stats

    if interval is None or n < 2:
        return None
    return (interval[1] - interval[0]) / 2 / stats.t.ppf(0.975, n - 1) * math.sqrt(n)


def means_p(m1: float, ci1: list[float] | None, n1: int, m2: float, ci2: list[float] | None, n2: int) -> float | None:
    """Welch's t-test p-value from summary statistics (None when a side has < 2 samples)."""
    from scipy import stats

    sd1, sd2 = _sd_from_interval(m1, ci1, n1), _sd_from_interval(m2, ci2, n2)
    if sd1 is None or sd2 is None:
        return None
    if sd1 == 0 and sd2 == 0:
        return 1.0 if m1 == m2 else 0.0
    return float(stats.ttest_ind_from_stats(m1, sd1, n1, m2, sd2, n2, equal_var=False).pvalue)


def nps_p(v1: float, ci1: list[float] | None, n1: int, v2: float, ci2: list[float] | None, n2: int) -> float | None:
    from scipy import stats

    if ci1 is None or ci2 is None or n1 < 1 or n2 < 1:
        return None
    se1, se2 = (ci1[1] - ci1[0]) / 2 / 1.96, (ci2[1] - ci2[0]) / 2 / 1.96
    se = math.sqrt(se1 ** 2 + se2 ** 2)
    if se == 0:
        return 1.0 if v1 == v2 else 0.0
    return float(2 * stats.norm.sf(abs(v1 - v2) / se))


# ------------------------------------------------------------------------------ barriers


def _index(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not doc:
        return {}
    return {b["id"]: {**b, "stage": s["id"]} for s in doc["stages"] for b in s["barriers"]}


def _stage(doc: dict[str, Any] | None, stage_id: str) -> dict[str, Any] | None:
    if not doc:
        return None
    return next((s for s in doc["stages"] if s["id"] == stage_id), None)


def _measure(doc: dict[str, Any] | None, barrier: dict[str, Any], stage_id: str) -> dict[str, Any] | None:
    """The measure behind a barrier in ``doc`` (flagged there or not): a proportion or a mean."""
    stage = _stage(doc, stage_id)
    if stage is None:
        return None
    if barrier["kind"] == "catalog":
        sig = stage.get("signals", {}).get(barrier["id"])
        texts = stage["metrics"]["samples"].get("texts", 0)
        mentions, total = (sig["mentions"], sig["texts"]) if sig else (0, texts)
        return {"type": "share", "x": mentions, "n": total, "value": mentions / total if total else None}
    evidence = barrier.get("evidence", {})
    metric = evidence.get("metric")
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
    if metric is not None:
        return {"type": "mean", "value": metrics.get(metric), "n": metrics["samples"].get(metric, 0), "ci": metrics["intervals"].get(metric)}
    return None


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q-values), None where the test could not run."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, i = indexed[rank - 1]
        running = min(running, p * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def _compare(old: dict[str, Any] | None, new: dict[str, Any] | None, config: DiffConfig) -> tuple[float | None, float | None, bool]:
    """(delta, p-value, material) of a measure between two versions."""
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


def _worse(barrier: dict[str, Any], delta: float) -> bool:
    """Whether a positive delta of the barrier's measure means worse."""
    evidence = barrier.get("evidence", {})
    if barrier["kind"] == "catalog":
        return delta > 0
    op = evidence.get("op")
    return delta > 0 if op in ("gt", "ge") else delta < 0


def diff_maps(old: dict[str, Any] | None, new: dict[str, Any], config: DiffConfig,
              old_version: str | None = None, new_version: str | None = None) -> dict[str, Any]:
    """The diff of two maps of one persona (``old`` None: the first version, everything is new)."""
    old_b, new_b = _index(old), _index(new)
    tests = []
    emerging = []
    for barrier_id in sorted(set(old_b) | set(new_b)):
        o, n = old_b.get(barrier_id), new_b.get(barrier_id)
        ref = n or o
        if ref["kind"] == "emerging":
            if bool(o) != bool(n):
                emerging.append({"id": barrier_id, "title": ref["title"], "stage": ref["stage"], "status": "appeared" if n else "gone",
                                 "severity": ref["severity"]})
            continue
        if old is None:
            tests.append((ref, o, n, None, None, False, None, None))
            continue
        m_old, m_new = _measure(old, ref, ref["stage"]), _measure(new, ref, ref["stage"])
        delta, p, material = _compare(m_old, m_new, config)
        tests.append((ref, o, n, delta, p, material, m_old, m_new))
    q_values = benjamini_hochberg([t[4] for t in tests])
    barriers = []
    for (ref, o, n, delta, p, material, m_old, m_new), q in zip(tests, q_values):
        if old is None:
            barriers.append(_entry(ref, "new", None, n, None, None, None, True, "first version"))
            continue
        supported = material and q is not None and q < config.alpha
        note = None
        if o and n:
            status = ("worsened" if _worse(ref, delta) else "improved") if supported else "unchanged"
        elif n:
            status = "new" if supported and _worse(ref, delta) else "unchanged"
            note = None if status == "new" else "crossed the threshold within noise"
        else:
            status = "resolved" if supported and not _worse(ref, delta) else "unchanged"
            note = None if status == "resolved" else "fell under the threshold within noise"
        barriers.append(_entry(ref, status, o, n, delta, p, q, status in FLAGGED, note, m_old, m_new))
    metrics, touchpoints = (_metric_changes(old, new, config), _touchpoint_changes(old, new, config)) if old else ([], [])
    result = {
        "persona": new["persona"]["id"],
        "persona_name": new["persona"]["name"],
        "stage_names": {s["id"]: s["name"] for s in new["stages"]},
        "from": old_version,
        "to": new_version,
        "from_period": old["period"] if old else None,
        "to_period": new["period"],
        "method": {"alpha": config.alpha, "min_share_change": config.min_share_change,
                   "min_relative_change": config.min_relative_change, "min_score_change": config.min_score_change,
                   "min_nps_change": config.min_nps_change, "min_touchpoint_change": config.min_touchpoint_change,
                   "tests": "two-proportion z (Fisher exact when an expected count < 5); Welch t from summary statistics; NPS z",
                   "multiple_testing": "Benjamini-Hochberg within barriers, metrics and touchpoints"},
        "counts": {status: sum(b["status"] == status for b in barriers) for status in (*FLAGGED, "unchanged")},
        "barriers": barriers,
        "emerging": emerging,
        "metrics": metrics,
        "touchpoints": touchpoints,
    }
    result["summary"] = summarize(result, new)
    return result


def _entry(ref, status, o, n, delta, p, q, flagged, note=None, m_old=None, m_new=None) -> dict[str, Any]:
    return {
        "id": ref["id"],
        "title": ref["title"],
        "kind": ref["kind"],
        "stage": ref["stage"],
        "status": status,
        "flagged": bool(flagged),
        "severity_from": o["severity"] if o else None,
        "severity_to": n["severity"] if n else None,
        "value_from": _r(m_old.get("value")) if m_old else None,
        "value_to": _r(m_new.get("value")) if m_new else None,
        "delta": _r(delta),
        "p_value": _r(p, 5),
        "q_value": _r(q, 5),
        "note": note,
    }


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _metric_changes(old: dict[str, Any], new: dict[str, Any], config: DiffConfig) -> list[dict[str, Any]]:
    out = []
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
                            "p_value": None, "flagged": False})  # derived from the tested signals: reported, never flagged
                continue
            else:
                kind = "nps" if name == "nps" else "mean"
                m_old = {"type": kind, "value": a.get(name), "n": a["samples"].get(name, 0), "ci": a["intervals"].get(name)}
                m_new = {"type": kind, "value": b.get(name), "n": b["samples"].get(name, 0), "ci": b["intervals"].get(name)}
            delta, p, material = _compare(m_old, m_new, config)
            if delta is None:
                continue
            out.append({"stage": stage["id"], "metric": name, "from": m_old["value"], "to": m_new["value"], "delta": _r(delta),
                        "p_value": _r(p, 5), "flagged": material})
    return _adjust(out, config)


def _adjust(rows: list[dict[str, Any]], config: DiffConfig) -> list[dict[str, Any]]:
    """Add q-values over the tested rows; ``flagged`` (material so far) becomes material and q < alpha."""
    q_values = benjamini_hochberg([r["p_value"] for r in rows])
    for row, q in zip(rows, q_values):
        row["q_value"] = _r(q, 5)
        row["flagged"] = bool(row["flagged"] and q is not None and q < config.alpha)
    return rows


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
                        "flagged": abs(delta) >= config.min_touchpoint_change})
    return _adjust(out, config)


def summarize(diff: dict[str, Any], new: dict[str, Any]) -> str:
    """A short paragraph fit for an email: what changed, where, by how much."""
    names = {s["id"]: s["name"] for s in new["stages"]}
    persona = new["persona"]["name"]
    if diff["from"] is None and diff["from_period"] is None:
        found = [b for b in diff["barriers"] if b["status"] == "new"]
        return f"First version for {persona} ({new['period']}): {len(found)} barrier(s) found." if found else f"First version for {persona} ({new['period']}): no barriers found."
    parts = []
    for status, verb in (("worsened", "worsened"), ("new", "appeared"), ("improved", "improved"), ("resolved", "were resolved")):
        items = [b for b in diff["barriers"] if b["status"] == status]
        if not items:
            continue
        by_stage: dict[str, list[str]] = {}
        for b in items:
            sev = f"{b['severity_from']}→{b['severity_to']}" if b["severity_from"] is not None and b["severity_to"] is not None else str(b["severity_to"] or b["severity_from"])
            by_stage.setdefault(names.get(b["stage"], b["stage"]), []).append(f"{b['title']} (severity {sev})")
        where = "; ".join(f"at {stage}: {', '.join(titles)}" for stage, titles in by_stage.items())
        parts.append(f"{len(items)} barrier{'s' if len(items) != 1 else ''} {verb if len(items) != 1 else verb.replace('were', 'was')} {where}")
    metrics = [m for m in diff["metrics"] if m["flagged"]]
    if metrics:
        shown = ", ".join(f"{m['metric'].replace('_', ' ')} at {names.get(m['stage'], m['stage'])} {_fmt(m['from'])}→{_fmt(m['to'])}" for m in metrics[:4])
        parts.append(f"{len(metrics)} metric change{'s' if len(metrics) != 1 else ''}: {shown}")
    if diff["emerging"]:
        parts.append(f"{len(diff['emerging'])} emerging theme change(s) to review")
    head = f"{persona}, {diff['to'] or new['period']} vs {diff['from'] or diff['from_period']}: "
    return head + ("; ".join(parts) + "." if parts else "no significant change.")


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def to_markdown(diff: dict[str, Any]) -> str:
    """The diff as short Markdown, fit to paste into an email or a chat."""
    stages = diff.get("stage_names", {})
    name = diff.get("persona_name") or diff["persona"]
    lines = [f"**{_md(name)}: {diff.get('to') or diff['to_period']} vs {diff.get('from') or diff.get('from_period') or '—'}**", "",
             _md(diff["summary"]), ""]
    flagged = [b for b in diff["barriers"] if b["flagged"]]
    if flagged:
        lines += ["| barrier | stage | change | severity | measure |", "| --- | --- | --- | --- | --- |"]
        for b in flagged:
            sev = f"{b['severity_from'] if b['severity_from'] is not None else '—'} → {b['severity_to'] if b['severity_to'] is not None else '—'}"
            measure = f"{_fmt(b['value_from'])} → {_fmt(b['value_to'])}" if b["value_from"] is not None or b["value_to"] is not None else ""
            lines.append(f"| {_md(b['title'])} | {_md(stages.get(b['stage'], b['stage']))} | {b['status']} | {sev} | {measure} |")
        lines.append("")
    metrics = [m for m in diff["metrics"] if m["flagged"]]
    if metrics:
        lines += ["Metric changes: " + "; ".join(f"{m['metric'].replace('_', ' ')} at {_md(stages.get(m['stage'], m['stage']))} "
                                                 f"{_fmt(m['from'])} → {_fmt(m['to'])}" for m in metrics), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    """Table-cell text from untrusted input: markup characters escaped, angle brackets as entities
    (chat clients that ignore backslash escapes still show them as text)."""
    escaped = "".join("\\" + ch if ch in "\\|*_`[]#" else ch for ch in str(text))
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def barrier_history(versions: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Every barrier's severity and status across versions.

    ``versions``: ``[(version id, map, diff)]`` in order. Returns {barrier id: {title, kind,
    stage, first_seen, last_seen, points: [{version, severity, status}]}}; a version where the
    barrier is not flagged has severity None.
    """
    history: dict[str, dict[str, Any]] = {}
    for version, doc, diff in versions:
        present = _index(doc)
        statuses = {b["id"]: b["status"] for b in diff.get("barriers", [])} if diff else {}
        statuses.update({e["id"]: e["status"] for e in (diff or {}).get("emerging", [])})
        for barrier_id, barrier in present.items():
            entry = history.setdefault(barrier_id, {"title": barrier["title"], "kind": barrier["kind"], "stage": barrier["stage"],
                                                    "first_seen": version, "last_seen": version, "points": []})
            entry["last_seen"] = version
        for barrier_id, entry in history.items():
            barrier = present.get(barrier_id)
            status = statuses.get(barrier_id) or ("present" if barrier else "absent")
            entry["points"].append({"version": version, "severity": barrier["severity"] if barrier else None, "status": status})
    for entry in history.values():
        entry["trajectory"] = [p["status"] for p in entry["points"]]
    return dict(sorted(history.items()))
