"""View models of the index, period and persona pages, rendered with their templates.

Survey and review text (quotes, theme phrases) and configured names are untrusted. They reach
HTML only through Jinja2 autoescaping, the charts escape what they embed, and a quote's matched
words are wrapped in ``<mark>`` by :func:`marked`, which escapes the text before, inside and
after them one by one.

A lane whose input the map did not have (its ``data``: no sales, no surveys, no reviews for the
persona that quarter) says so instead of looking empty or failed; a map stored before maps
recorded this is read as having had every input and shows as it did then.

Nothing here infers meaning from a metric's name: which way a metric is better comes from the
map's ``directions`` and the diff's ``better``/``change``; which metrics are proportions from
the configured rates. Prevalences are shown as "N of M customers (x%)" with M the map's
``measures.denominator``, and where the texts were written beside them, never as their base.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from cjm_tasks.site.changes import (
    BADGED, barrier_statuses, change_counts, flagged_rows, history_rows, resolved_barriers, what_changed,
)
from cjm_tasks.site.charts import (
    bar_svg, emotion_column_svg, emotion_curve_svg, emotion_segment_svg, funnel_svg, severity_svg, sparkline_svg,
)
from cjm_tasks.site.comparisons import Comparison
from cjm_tasks.site.context import Site, Version, persona_page
from cjm_tasks.site.labels import barrier_title, metric_label, mood_of, severity_band
from cjm_tasks.site.render import render_template
from cjm_tasks.versions.diff import PROPORTIONS
from cjm_tasks.versions.history import UNPLACED

SCORES = ("csat", "nps", "ces", "rating", "sentiment")


def _top_barriers(site: Site, version: Version, root: str, limit: int) -> list[dict[str, Any]]:
    names = site.stage_names(version.doc)
    rows = []
    for b in version.doc["summary"]["top_barriers"][:limit]:
        label = site.t["severity_of"].format(n=b["severity"])
        rows.append({"title": barrier_title(b), "stage": names.get(b["stage"], b["stage"]), "severity": b["severity"],
                     "band": severity_band(b["severity"]), "svg": severity_svg(b["severity"], label),
                     "persona": version.doc["persona"]["name"], "href": f"{root}{version.page}"})
    return rows


def _too_few(site: Site, doc: dict[str, Any]) -> dict[str, str] | None:
    """The notice for a persona with fewer active customers than the detection needs, else None."""
    measures = doc.get("measures") or {}
    if not (measures.get("too_few") or doc["summary"].get("too_few")):
        return None
    t, fmt = site.t, site.fmt
    return {"title": t["too_few_customers"].format(n=fmt.count(measures.get("min_customers"))),
            "note": t["too_few_customers_note"].format(n=fmt.count(measures.get("denominator")),
                                                       unit=t[f"unit_{measures.get('unit') or 'customers'}"])}


def _gaps(site: Site, doc: dict[str, Any]) -> dict[str, Any]:
    """What the pages say about the inputs ``doc`` had no rows of: a sentence each for the
    notice (``notes``), short labels (``labels``), and the label of the sales lanes (``sales``)
    and of the lanes fed by surveys or reviews (``feedback``), None where the data was there."""
    t, data = site.t, doc.get("data") or {}
    has = {kind: bool(data.get(kind, True)) for kind in ("sales", "surveys", "reviews")}
    notes = {"sales": t["no_sales_data"], "surveys": t["no_survey_data"], "reviews": t["no_review_data"]}
    labels = {"sales": t["nodata_sales"], "surveys": t["nodata_surveys"], "reviews": t["nodata_reviews"]}
    missing = [kind for kind, present in has.items() if not present]
    return {"notes": [notes[k] for k in missing], "labels": [labels[k] for k in missing],
            "sales": None if has["sales"] else labels["sales"],
            "feedback": None if has["surveys"] or has["reviews"] else t["nodata_feedback"]}


def _quality(site: Site, period: str) -> dict[str, Any] | None:
    """The data-quality summary of a period from its validation.json, None when there is none."""
    result = site.validations.get(period)
    if not result:
        return None
    sources = []
    failures = []
    for name, src in (result.get("sources") or {}).items():
        checks = src.get("checks") or []
        failed = [c for c in checks if not c.get("success")]
        sources.append({"name": name, "rows": site.fmt.count(src.get("rows")), "outside": site.fmt.count(src.get("rows_outside_period")),
                        "checks": len(checks), "failed": len(failed), "success": bool(src.get("success", not failed))})
        failures += [{"source": name, "column": c.get("column") or "", "description": c.get("description") or c.get("kind") or "",
                      "error": c.get("error")} for c in failed]
    return {"success": bool(result.get("success")), "created_at": result.get("created_at"),
            "summary": site.t["checks_summary"].format(checks=result.get("checks", 0), failed=result.get("failed", 0)),
            "sources": sources, "failures": failures[:20]}


def _comparison_rows(site: Site, comparisons: list[Comparison], root: str) -> list[dict[str, str]]:
    """The comparisons as the pages list them, in the order given (newest first)."""
    return [{"label": c.label, "href": f"{root}{c.page}", "persona": site.persona_name(c.persona),
             "persona_href": f"{root}{persona_page(c.persona)}" if c.persona in site.versions else None} for c in comparisons]


def render_index(site: Site, comparisons: list[Comparison]) -> str:
    """``index.html``: latest highlights, a link to every published version and persona page,
    and every comparison the site holds (``comparisons``, newest first)."""
    root = ""
    latest_period = site.periods[-1] if site.periods else None
    latest = [v for p in site.personas if latest_period and (v := site.latest(p, latest_period))]
    top = sorted((row for v in latest for row in _top_barriers(site, v, root, 3)), key=lambda r: -r["severity"])[:8]
    table = []
    for period in reversed(site.periods):
        cells = []
        for persona in site.personas:
            found = site.in_period(persona, period)
            cells.append({"latest": {"id": found[-1].id, "href": found[-1].page, "counts": change_counts(site, found[-1].diff)} if found else None,
                          "older": [{"id": v.id, "href": v.page} for v in reversed(found[:-1])]})
        quality = _quality(site, period)
        table.append({"period": period, "href": f"periods/{period}/index.html", "cells": cells, "quality": quality})
    heads = []
    for persona in site.personas:
        doc = site.versions[persona][-1].doc
        heads.append({"name": doc["persona"]["name"], "description": doc["persona"]["description"], "href": persona_page(persona)})
    return render_template(
        "index.html.j2", **site.context(root, [(site.t["home"], None)]),
        latest_period=latest_period, latest_href=f"periods/{latest_period}/index.html" if latest_period else None,
        top=top, flagged=[row for v in latest for row in flagged_rows(site, v, root)], heads=heads, table=table,
        comparisons=_comparison_rows(site, comparisons, root),
    )


def render_persona_index(site: Site, persona: str, comparisons: list[Comparison]) -> str:
    """``personas/<persona>/index.html``: every version of the persona's map, newest first, and
    every comparison of two of its versions the site holds (``comparisons``, newest first).
    Version pages are never rewritten once published; this page is, at each publish."""
    root = "../../"
    own = site.versions[persona]
    doc = own[-1].doc
    versions = [{"id": v.id, "href": f"{root}{v.page}", "period": v.period, "period_href": f"{root}periods/{v.period}/index.html",
                 "created_at": (v.created_at or "")[:10], "counts": change_counts(site, v.diff)} for v in reversed(own)]
    return render_template(
        "persona_index.html.j2", **site.context(root, [(site.t["home"], f"{root}index.html"), (doc["persona"]["name"], None)]),
        persona=doc["persona"], versions=versions, comparisons=_comparison_rows(site, comparisons, root),
    )


def render_period(site: Site, period: str) -> str:
    """``periods/<period>/index.html``: persona cards, changed barriers, data quality."""
    root = "../../"
    t, fmt = site.t, site.fmt
    cards, flagged = [], []
    for persona in site.personas:
        version = site.latest(persona, period)
        if version is None:
            continue
        doc = version.doc
        names = site.stage_names(doc)
        curve = [s["metrics"].get("emotion") for s in doc["stages"]]
        lowest = doc["summary"].get("lowest_stage")
        cards.append({
            "name": doc["persona"]["name"], "description": doc["persona"]["description"], "href": f"{root}{version.page}",
            "id": version.id, "customers": fmt.count(doc["persona"]["customers"]), "too_few": _too_few(site, doc),
            "missing": _gaps(site, doc)["labels"],
            "barriers": doc["summary"]["barriers"]["total"],
            "emotion_svg": sparkline_svg(curve, -1, 1, f"{t['emotion']}: " + ", ".join(f"{names[s['id']]} {fmt.signed(v)}" for s, v in zip(doc["stages"], curve)),
                                         zero=True, width=180, height=40),
            "lowest": names.get(lowest, lowest) if lowest else None,
            "top": _top_barriers(site, version, root, 3), "counts": change_counts(site, version.diff),
            "older": [{"id": v.id, "href": f"{root}{v.page}"} for v in site.in_period(persona, period)[:-1]],
        })
        flagged += flagged_rows(site, version, root)
    index = site.periods.index(period)
    neighbours = {"previous": site.periods[index - 1] if index else None,
                  "next": site.periods[index + 1] if index + 1 < len(site.periods) else None}
    first = next((v.doc for p in site.personas if (v := site.latest(p, period))), None)
    dates = t["period_dates"].format(start=first["period_start"][:10], end=_last_day(first["period_end"])) if first else ""
    return render_template(
        "period.html.j2", **site.context(root, [(t["home"], f"{root}index.html"), (period, None)]),
        period=period, dates=dates, cards=cards, flagged=flagged, quality=_quality(site, period),
        neighbours={k: {"id": p, "href": f"{root}periods/{p}/index.html"} if p else None for k, p in neighbours.items()},
    )


def _last_day(end: str) -> str:
    """The last calendar day of a period from its exclusive end instant."""
    from datetime import date, timedelta

    return (date.fromisoformat(end[:10]) - timedelta(days=1)).isoformat()


def render_persona(site: Site, version: Version, history: dict[str, dict[str, Any]]) -> str:
    """``personas/<persona>/<version>/index.html``: the map, what changed, barrier history."""
    root = "../../../"
    t, fmt, doc = site.t, site.fmt, version.doc
    names = site.stage_names(doc)
    own = site.versions[version.persona]
    position = own.index(version)
    previous = site.find(version.persona, version.diff.get("from"))
    stages = _stage_views(site, version)
    emotion = [(s["name"], s["metrics"].get("emotion")) for s in doc["stages"]]
    curve_label = f"{t['emotion_curve']}: " + ", ".join(f"{n} {fmt.signed(v)}" for n, v in emotion)
    funnel = [(s["name"], s["metrics"].get("reached_share"), s["metrics"].get("conversion_to_next")) for s in doc["stages"]]
    summary, measures = doc["summary"], doc.get("measures") or {}
    lowest = summary.get("lowest_stage")
    kpis = [(t["customers"], fmt.count(doc["persona"]["customers"])), (t["texts"], fmt.count(measures.get("texts", summary["texts"]))),
            (t["barriers"], fmt.count(summary["barriers"]["total"]))]
    if lowest:
        kpis.append((t["lowest_stage"], names.get(lowest, lowest)))
    statuses = barrier_statuses(version.diff)
    gaps = _gaps(site, doc)
    unplaced = {"barriers": [_barrier_view(site, b, names, statuses.get(b["id"], "unchanged")) for b in doc.get("unplaced", [])],
                "resolved": resolved_barriers(site, version.diff, UNPLACED)}
    return render_template(
        "persona.html.j2",
        **site.context(root, [(t["home"], f"{root}index.html"), (version.period, f"{root}periods/{version.period}/index.html"),
                              (doc["persona"]["name"], None)]),
        persona=doc["persona"], version=version.id, period=version.period, revision=t["revision_of"].format(n=version.revision),
        dates=t["period_dates"].format(start=doc["period_start"][:10], end=_last_day(doc["period_end"])),
        kpis=[{"label": k, "value": v} for k, v in kpis], too_few=_too_few(site, doc), prevalence_note=_prevalence_note(site, measures),
        no_data={"title": t["no_data_title"], "notes": gaps["notes"]} if gaps["notes"] else None,
        no_sales=gaps["sales"], no_feedback=gaps["feedback"],
        counts=change_counts(site, version.diff),
        emotion_svg=emotion_curve_svg(emotion, fmt, curve_label),
        emotion_narrow_svg=emotion_column_svg(emotion, fmt, curve_label),
        funnel_svg=funnel_svg(funnel, t, fmt, t["funnel"]),
        funnel_narrow_svg=funnel_svg(funnel, t, fmt, t["funnel"], narrow=True),
        stages=stages, unplaced=unplaced,
        changes=what_changed(site, version, previous, root),
        history=history_rows(site, version, own[: position + 1], history),
        versions=[{"id": v.id, "href": f"{root}{v.page}", "current": v is version} for v in own],
        previous={"id": own[position - 1].id, "href": f"{root}{own[position - 1].page}"} if position else None,
        following={"id": own[position + 1].id, "href": f"{root}{own[position + 1].page}"} if position + 1 < len(own) else None,
        others=[{"name": v.doc["persona"]["name"], "href": f"{root}{v.page}"} for p in site.personas
                if p != version.persona and (v := site.latest(p, version.period))],
        persona_href=f"{root}{persona_page(version.persona)}",
        lineage=_lineage(version),
    )


def _prevalence_note(site: Site, measures: dict[str, Any]) -> str:
    """What every "N of M" on the page is a share of."""
    if not measures.get("denominator"):
        return ""
    t, fmt = site.t, site.fmt
    if measures.get("unit") == "texts":
        return t["prevalence_note_texts"].format(n=fmt.count(measures["denominator"]))
    note = t["prevalence_note_customers"].format(n=fmt.count(measures["denominator"]), writers=fmt.count(measures.get("writers")),
                                                 texts=fmt.count(measures.get("texts")))
    if measures.get("anonymous_texts"):
        note += " " + t["prevalence_note_anonymous"].format(n=fmt.count(measures["anonymous_texts"]))
    return note


def _stage_views(site: Site, version: Version) -> list[dict[str, Any]]:
    """One column of the map per stage, every value formatted and labelled."""
    t, fmt, doc, diff = site.t, site.fmt, version.doc, version.diff
    names = site.stage_names(doc)
    statuses = barrier_statuses(diff)
    gaps = _gaps(site, doc)
    emotions = [s["metrics"].get("emotion") for s in doc["stages"]]
    views = []
    for i, stage in enumerate(doc["stages"]):
        metrics = stage["metrics"]
        value = emotions[i]
        mood = mood_of(value)
        views.append({
            "id": stage["id"], "name": stage["name"], "goal": stage.get("goal"),
            "loops_to": t["loops_to"].format(stages=", ".join(names.get(s, s) for s in stage["loops_to"])) if stage["loops_to"] else None,
            "reached": t["reached"].format(share=fmt.pct(metrics.get("reached_share"))) if metrics.get("reached_share") is not None else None,
            "go_on": t["go_on"].format(share=fmt.pct(metrics.get("conversion_to_next"))) if metrics.get("conversion_to_next") is not None else None,
            "touchpoints": [{"channel": tp["channel"], "share": fmt.pct(tp["share"]), "events": fmt.count(tp["events"]),
                             "svg": bar_svg(tp["share"], "#3f6ad8", t["share_of_events"].format(share=fmt.pct(tp["share"])))}
                            for tp in stage["touchpoints"]],
            "actions": [{"name": a["event_type"].replace("_", " "),
                         "detail": t["action_counts"].format(events=fmt.count(a["events"]), customers=fmt.count(a["customers"]))}
                        for a in stage["actions"]],
            "no_sales": gaps["sales"], "no_feedback": gaps["feedback"], "gaps": gaps["labels"],
            "emotion": {"value": fmt.signed(value), "mood": mood, "mood_label": t[f"mood_{mood}"] if value is not None else "",
                        "svg": emotion_segment_svg(emotions[i - 1] if i else None, value, emotions[i + 1] if i + 1 < len(emotions) else None,
                                                   f"{t['emotion']} {fmt.signed(value)}")},
            "metrics": _metric_rows(site, stage),
            "barriers": [_barrier_view(site, b, names, statuses.get(b["id"], "unchanged")) for b in stage["barriers"]],
            "resolved": resolved_barriers(site, diff, stage["id"]),
            # Nothing found where few answered means nothing is known, not that all is well.
            # Without any survey or review no text barrier could have been found either.
            "empty": gaps["feedback"] or (t["too_few_answers"] if stage.get("too_few") else t["no_barriers"]),
            "expect": [{"phrase": th["phrase"], "texts": th["texts"]} for th in stage["themes"]["positive"]],
            "fear": [{"phrase": th["phrase"], "texts": th["texts"]} for th in stage["themes"]["negative"]],
            "opportunities": [{"title": o["title"], "action": o["action"], "priority": t["opportunity_priority"].format(n=o["priority"])}
                              for o in stage["opportunities"]],
        })
    return views


def _metric_rows(site: Site, stage: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage's measured metrics with sample sizes, each with its ideal-path target when the
    stage declares one (the funnel shares only then: the stage header shows them already)."""
    t, fmt = site.t, site.fmt
    metrics, scales = stage["metrics"], site.config.metrics.scales
    ideal = {row["metric"]: row for row in stage.get("ideal", [])}
    rows = []
    for name in (*PROPORTIONS, *SCORES, *metrics.get("rates", {}), *ideal):
        if any(r["name"] == name for r in rows):
            continue
        rate = metrics.get("rates", {}).get(name)
        value = rate["value"] if rate else metrics.get(name, ideal.get(name, {}).get("actual"))
        if value is None or (name in PROPORTIONS and name not in ideal):
            continue
        scale = (1, 5) if name == "rating" else scales.get(name)
        of = f" / {fmt.num(scale[1], 0)}" if scale and name != "nps" else ""
        if rate:
            detail = t["rate_counts"].format(numerator=fmt.count(rate["numerator"]), denominator=fmt.count(rate["denominator"]))
        else:
            detail = t["sample_size"].format(n=fmt.count(metrics.get("samples", {}).get(name, 0)))
        target = ideal.get(name)
        rows.append({"name": name, "label": metric_label(t, name), "value": site.metric_value(name, value) + of, "detail": detail,
                     "target": t["target"].format(value=site.metric_value(name, target["target"])) if target else None,
                     "met": target["met"] if target else None,
                     "met_label": (t["met"] if target["met"] else t["not_met"]) if target and target["met"] is not None else ""})
    return rows


def _barrier_view(site: Site, barrier: dict[str, Any], names: dict[str, str], status: str) -> dict[str, Any]:
    t = site.t
    severity = barrier["severity"]
    return {
        "id": barrier["id"], "title": barrier_title(barrier), "kind": barrier["kind"], "kind_label": t[f"kind_{barrier['kind']}"],
        "severity": severity, "band": severity_band(severity),
        "svg": severity_svg(severity, t["severity_of"].format(n=severity)),
        "status": status, "status_label": site.status_label(status), "badge": status in BADGED,
        "evidence": _evidence(site, barrier, names),
        "quotes": [_quote(site, q) for q in barrier["quotes"][:3]],
    }


def _quote(site: Site, quote: dict[str, Any]) -> dict[str, Any]:
    via = quote.get("via")
    return {"html": marked(str(quote.get("text") or ""), quote.get("match")), "source": quote.get("source") or "",
            "date": quote.get("date") or "", "via": site.t.get(f"via_{via}", "") if via else ""}


def marked(text: str, match: Any) -> Markup:
    """``text`` as HTML with the matched words, ``match`` = [start, end) character offsets, in
    ``<mark>``. The three pieces are escaped one by one (the text is untrusted); offsets that do
    not fit the text leave it unmarked."""
    if (isinstance(match, (list, tuple)) and len(match) == 2
            and all(isinstance(i, int) and not isinstance(i, bool) for i in match) and 0 <= match[0] < match[1] <= len(text)):
        start, end = match
        return Markup("{}<mark>{}</mark>{}").format(text[:start], text[start:end], text[end:])
    return escape(text)


def _evidence(site: Site, barrier: dict[str, Any], names: dict[str, str]) -> list[dict[str, str]]:
    """The numbers behind a barrier, as short lines a reader can check (``title``: a detail
    shown on hover, such as the interval)."""
    t, fmt = site.t, site.fmt
    ev = barrier.get("evidence", {})
    if barrier["kind"] == "metric":
        metric = ev.get("metric")
        op = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}.get(ev.get("op"), ev.get("op") or "")
        lines = [{"text": t["metric_evidence"].format(metric=metric_label(t, metric or ""), value=site.metric_value(metric, ev.get("value")),
                                                      op=op, limit=site.metric_value(metric, ev.get("threshold")))}]
        if ev.get("numerator") is not None:
            lines.append({"text": t["rate_counts"].format(numerator=fmt.count(ev["numerator"]), denominator=fmt.count(ev.get("denominator")))})
        elif ev.get("samples") is not None:
            lines.append({"text": t["sample_size"].format(n=fmt.count(ev["samples"]))})
        return [{"title": "", **line} for line in lines]
    interval = ev.get("interval")
    lines = [{"text": t["mentioned_texts" if ev.get("unit") == "texts" else "mentioned_customers"].format(
                 n=fmt.count(ev.get("customers")), total=fmt.count(ev.get("denominator")), share=fmt.share(ev.get("prevalence"))),
              "title": t["interval_95"].format(low=fmt.share(interval[0]), high=fmt.share(interval[1])) if interval else ""}]
    if barrier["kind"] == "emerging":
        also = [p for p in ev.get("phrases") or [] if p != ev.get("phrase")]
        if also:
            lines.append({"text": t["also_phrased"].format(phrases=", ".join(f"“{p}”" for p in also))})
        if ev.get("negative_writers"):
            share = fmt.pct(ev.get("share_of_negative"))
            lines.append({"text": t["share_of_negative"].format(share=share, n=fmt.count(ev["negative_writers"]))})
    where = _placement(site, ev.get("stages") or {}, ev.get("mentions"), names)
    if where:
        lines.append({"text": where})
    return [{"title": "", **line} for line in lines]


def _placement(site: Site, stages: dict[str, int], mentions: int | None, names: dict[str, str]) -> str:
    """Where a barrier's texts were written: "41 texts: mostly at Purchase; 14 without a stage"."""
    t, fmt = site.t, site.fmt
    placed = sorted(((k, v) for k, v in stages.items() if k != UNPLACED), key=lambda kv: -kv[1])
    unplaced = stages.get(UNPLACED, 0)
    parts = []
    if len(placed) == 1:
        parts.append(t["where_one"].format(stage=names.get(placed[0][0], placed[0][0])))
    elif placed and 2 * placed[0][1] > sum(v for _, v in placed):
        parts.append(t["where_mostly"].format(stage=names.get(placed[0][0], placed[0][0])))
    elif placed:
        parts.append(t["where_spread"].format(stages=", ".join(names.get(k, k) for k, _ in placed[:3])))
    if unplaced:
        parts.append(t["where_unplaced"].format(n=fmt.count(unplaced)) if placed else t["where_none"])
    if not parts:
        return ""
    return t["texts_where"].format(n=fmt.count(mentions if mentions is not None else sum(stages.values())), where="; ".join(parts))


def _lineage(version: Version) -> dict[str, Any]:
    """What the version was built from, without file locations (they name internal buckets)."""
    lineage = version.doc.get("lineage", {})
    return {"inputs": [{"source": name, "rows": item.get("rows"), "sha": (item.get("sha256") or "")[:12]}
                       for name, item in lineage.get("inputs", {}).items()],
            "config": (lineage.get("config_sha256") or "")[:12], "code": lineage.get("code_version") or "",
            "created_at": version.created_at or ""}
