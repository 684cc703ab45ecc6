"""View models of what changed between versions: a diff's entries, summary and barrier history.

The words of a change come from the diff, never from a metric's name: which way a metric is
better is the diff's ``change``, and the numbers behind a status are said as the diff measured
them (in English, the text of :func:`cjm_tasks.versions.wording.measure_text`), with a returned
barrier linked to the version it was last seen in.
"""

from __future__ import annotations

from typing import Any

from cjm_tasks.site.charts import sparkline_svg
from cjm_tasks.site.context import Site, Version
from cjm_tasks.site.labels import barrier_title, from_to, metric_label, severity_band
from cjm_tasks.versions.diff import FLAGGED, PROPORTIONS
from cjm_tasks.versions.history import active_barriers

BADGED = (*FLAGGED, "too_few")


def barrier_statuses(diff: dict[str, Any]) -> dict[str, str]:
    """Change status of every barrier the diff knows (catalog, metric and emerging), by id."""
    return {b["id"]: b["status"] for b in diff.get("barriers", [])}


def status_badge(site: Site, entry: dict[str, Any], persona: str, root: str) -> dict[str, Any]:
    """A diff entry's status for a badge: "returned" says when it was last seen, with a link."""
    status = entry["status"]
    seen = entry.get("last_seen") if status == "returned" else None
    found = site.find(persona, seen) if seen else None
    return {"status": status, "label": site.status_label(status), "last_seen": seen or "",
            "last_seen_label": site.t["last_seen"].format(version=seen) if seen else "",
            "last_seen_href": f"{root}{found.page}" if found else None}


def change_measure(site: Site, entry: dict[str, Any]) -> str:
    """The numbers behind a diff entry's status, in the site's language: "3.1% → 6.4% of
    customers (12 → 25), +3.3 points (95% CI +1.9 to +4.7)". For barriers counted in customers
    or texts it is, in English, the text of :func:`cjm_tasks.versions.wording.measure_text` (with a proper
    minus sign and thousands separators, and "≤" before a count that is only a bound); a metric
    barrier's value is formatted like the metric ("Failed payments 7.4% → 22%")."""
    t, fmt = site.t, site.fmt
    a, z = entry.get("evidence_from"), entry.get("evidence_to") or {}
    effect = entry.get("effect") or {}
    if entry["kind"] == "metric":
        metric = entry.get("metric")
        values = {"from": site.metric_value(metric, entry.get("value_from")), "to": site.metric_value(metric, entry.get("value_to"))}
        text = t["metric_change" if a else "metric_now"].format(metric=metric_label(t, metric or ""), **values)
        # Rates and funnel shares are compared as proportions: their effect is in points.
        proportion = metric in PROPORTIONS or metric in site.rates
    else:
        unit = t[f"unit_{z.get('unit') or (a or {}).get('unit') or 'customers'}"]
        # A theme not measured in a version holds the most it could have been there: a bound.
        count = lambda side: ("≤" if side.get("bound") else "") + fmt.count(side.get("customers"))  # noqa: E731
        if a:
            text = t["prevalence_change"].format(unit=unit, a=count(a), b=count(z),
                                                 **{"from": fmt.share(entry.get("value_from")), "to": fmt.share(entry.get("value_to"))})
        else:
            text = t["prevalence_now"].format(unit=unit, b=count(z), to=fmt.share(entry.get("value_to")))
        proportion = True
    if proportion and effect.get("difference") is not None and effect.get("low") is not None:
        text += ", " + t["effect_points"].format(difference=fmt.points(effect["difference"]), low=fmt.points(effect["low"]),
                                                 high=fmt.points(effect["high"]))
    return text


def flagged_rows(site: Site, version: Version, root: str) -> list[dict[str, Any]]:
    """The version's flagged barrier changes, for tables across personas."""
    names = site.stage_names(version.doc)
    return [{
        "persona": version.doc["persona"]["name"], "persona_id": version.persona, "href": f"{root}{version.page}",
        "stage": names.get(b["stage"], b["stage"]), "id": b["id"], "title": barrier_title(b), **status_badge(site, b, version.persona, root),
        "severity": from_to(b["severity_from"], b["severity_to"]), "measure": change_measure(site, b), "note": useful_note(site, b),
    } for b in version.diff.get("barriers", []) if b["flagged"]]


def useful_note(site: Site, entry: dict[str, Any]) -> str:
    """An entry's note in the site's language; "first version", on every entry of a first
    diff, says nothing the heading does not."""
    return site.note(entry) if entry.get("note") and entry.get("note_code") != "first_version" else ""


def change_counts(site: Site, diff: dict[str, Any]) -> list[dict[str, Any]]:
    """Badges of the flagged changes by status, and one "too few to tell" when the diff could not compare."""
    counts = diff.get("counts", {})
    badges = [{"status": s, "label": site.status_label(s), "n": counts[s]} for s in FLAGGED if counts.get(s)]
    if diff.get("too_few"):
        badges.append({"status": "too_few", "label": site.status_label("too_few"), "n": None})
    return badges


def resolved_barriers(site: Site, diff: dict[str, Any], stage_id: str) -> list[dict[str, Any]]:
    """The barriers of a stage (or ``unplaced``) that the diff resolved: shown where they were."""
    return [{"id": b["id"], "title": barrier_title(b), "status": "resolved", "status_label": site.status_label("resolved"),
             "note": site.t["resolved_was"].format(n=b["severity_from"]), "measure": change_measure(site, b)}
            for b in diff.get("barriers", []) if b["status"] == "resolved" and b["stage"] == stage_id]


def what_changed(site: Site, version: Version, previous: Version | None, root: str) -> dict[str, Any]:
    """The "what changed since" section of a persona page: the flagged changes, the changes
    within noise worth a note, and the metric and channel changes."""
    t, diff, doc = site.t, version.diff, version.doc
    names = {**(site.stage_names(previous.doc) if previous else {}), **diff.get("stage_names", {}), **site.stage_names(doc)}
    barriers, noise = [], []
    for b in diff.get("barriers", []):
        note = useful_note(site, b)
        if not b["flagged"] and not (b["status"] == "unchanged" and note):
            continue
        row = {"id": b["id"], "title": barrier_title(b), "kind_label": t[f"kind_{b['kind']}"], "stage": names.get(b["stage"], b["stage"]),
               **status_badge(site, b, version.persona, root), "severity": from_to(b["severity_from"], b["severity_to"]),
               "measure": change_measure(site, b), "note": note}
        (barriers if b["flagged"] else noise).append(row)
    metrics = []
    for m in diff.get("metrics", []):
        if not m["flagged"]:
            continue
        change = m.get("change")  # from the map's directions: which way this metric is better
        metrics.append({"stage": names.get(m["stage"], m["stage"]), "label": metric_label(t, m["metric"]),
                        "from_to": f"{site.metric_value(m['metric'], m['from'])} → {site.metric_value(m['metric'], m['to'])}",
                        "change": change or "", "badge": {"worse": "worsened", "better": "improved"}.get(change, "unchanged"),
                        "change_label": t[change] if change in ("worse", "better") else t["nothing"]})
    channels = [{"stage": names.get(c["stage"], c["stage"]), "channel": c["channel"],
                 "from_to": f"{site.fmt.pct(c['from'])} → {site.fmt.pct(c['to'])}"} for c in diff.get("touchpoints", []) if c["flagged"]]
    too_few = sum(b["status"] == "too_few" for b in diff.get("barriers", []))
    return {
        "title": t["what_changed_since"].format(version=diff["from"]) if diff.get("from") else t["what_changed_first"],
        "from_href": f"{root}{previous.page}" if previous else None, "from": diff.get("from"),
        "summary": _summary_text(site, version), "barriers": barriers, "noise": noise, "metrics": metrics, "channels": channels,
        "too_few": t["too_few_changes"].format(n=site.fmt.count(too_few), minimum=site.fmt.count(diff.get("min_customers"))) if too_few else "",
    }


def _summary_text(site: Site, version: Version) -> str:
    """The diff's summary; rebuilt from the diff's entries in the site's language when it is
    not English (``diff.summarize`` writes English), with the same numbers."""
    diff, doc, t = version.diff, version.doc, site.t
    if site.config.project.language == "en":
        return diff.get("summary", "")
    names = {**diff.get("stage_names", {}), **site.stage_names(doc)}
    if diff.get("from") is None and diff.get("from_period") is None:
        if diff.get("too_few"):
            return t["first_version_too_few"].format(persona=doc["persona"]["name"], period=doc["period"],
                                                     n=site.fmt.count(diff.get("min_customers")))
        return t["first_version"].format(persona=doc["persona"]["name"], period=doc["period"],
                                         n=sum(b["status"] == "new" for b in diff.get("barriers", [])))
    parts = []
    for status in ("worsened", "new", "returned", "improved", "resolved"):
        items = []
        for b in (b for b in diff.get("barriers", []) if b["status"] == status):
            seen = f", {t['last_seen'].format(version=b['last_seen'])}" if status == "returned" and b.get("last_seen") else ""
            items.append(f"{barrier_title(b)} ({names.get(b['stage'], b['stage'])}{seen}: {change_measure(site, b)})")
        if items:
            parts.append(t["summary_status"].format(status=site.status_label(status).capitalize(), items="; ".join(items)))
    moved = sum(m["flagged"] for m in diff.get("metrics", []))
    if moved:
        parts.append(t["summary_metrics"].format(n=moved))
    if diff.get("too_few"):
        parts.append(t["summary_too_few"].format(n=site.fmt.count(diff.get("min_customers"))))
    return ". ".join(parts) + "." if parts else t["no_significant_change"]


def history_rows(site: Site, version: Version, upto: list[Version], history: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each barrier's severity in every version up to this one (later versions are not shown on
    an earlier page: it reads as that quarter's report)."""
    t, names = site.t, site.stage_names(version.doc)
    ids = [v.id for v in upto]
    # Where a barrier sits now (a theme's stage can move); the history knows where it was first seen.
    current = {barrier_id: b["stage"] for barrier_id, b in active_barriers(version.doc).items()}
    rows = []
    for barrier_id, entry in history.items():
        points = {p["version"]: p for p in entry["points"]}
        values = [points[v]["severity"] if v in points else None for v in ids]
        if all(v is None for v in values):
            continue
        now = points.get(version.id, {})
        title = barrier_title(entry)
        label = f"{title}: " + ", ".join(f"{v} {'—' if s is None else s}" for v, s in zip(ids, values))
        status = now.get("status") if now.get("severity") is not None or now.get("status") in BADGED else None
        stage = current.get(barrier_id, entry["stage"])
        rows.append({"title": title, "stage": names.get(stage, stage), "kind_label": t[f"kind_{entry['kind']}"],
                     "svg": sparkline_svg(values, 0, 100, label), "first_seen": entry["first_seen"],
                     "now": now.get("severity"), "band": severity_band(now.get("severity")),
                     "status": status, "status_label": site.status_label(status) if status else "",
                     "badge": status in BADGED, "sort": (now.get("severity") is None, -(now.get("severity") or max(v or 0 for v in values)))})
    rows.sort(key=lambda r: r["sort"])
    return {"versions": ids, "rows": rows}
