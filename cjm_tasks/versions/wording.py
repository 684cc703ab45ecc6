"""A diff in words: the numbers behind a barrier's status (``measure_text``), the summary
paragraph fit for an email, and the diff as short Markdown. Every sentence is built from the
entry's own numbers.
"""

from __future__ import annotations

from typing import Any

from cjm_tasks.versions.history import UNPLACED

VERBS = {"worsened": "worsened", "new": "appeared", "returned": "returned", "improved": "improved", "resolved": "was resolved"}


def stage_label(diff: dict[str, Any], stage_id: str) -> str:
    return "no particular stage" if stage_id == UNPLACED else diff.get("stage_names", {}).get(stage_id, stage_id)


def measure_text(b: dict[str, Any], unit: str = "customers") -> str:
    """"3.1% → 6.4% of customers (12 → 25), +3.3 points (95% CI +1.9 to +4.7)" for a barrier
    entry: the numbers behind its status, in the order of time. A metric barrier's values are
    shown as percentages when they are shares (a rate, a conversion), else as they are."""
    if b["kind"] == "metric":
        share = any((side or {}).get("numerator") is not None for side in (b.get("evidence_from"), b.get("evidence_to")))
        show = _pct if share else _fmt
        metric = (b.get("metric") or "").replace("_", " ")
        return f"{metric} {show(b['value_from'])} → {show(b['value_to'])}".strip()
    a, z = b.get("evidence_from") or {}, b.get("evidence_to") or {}
    unit = z.get("unit") or unit
    text = f"{_pct(b['value_from'])} → {_pct(b['value_to'])} of {unit}"
    if a.get("customers") is not None and z.get("customers") is not None:
        text += f" ({a['customers']} → {z['customers']})"
    effect = b.get("effect") or {}
    if effect.get("difference") is not None and effect.get("low") is not None:
        text += f", {_points(effect['difference'])} points (95% CI {_points(effect['low'])} to {_points(effect['high'])})"
    return text


def summarize(diff: dict[str, Any]) -> str:
    """A short paragraph fit for an email: what changed, where, by how much. Every sentence is
    built from the entry's own numbers, so "worsened" always comes with a rise."""
    persona = diff.get("persona_name") or diff["persona"]
    unit = diff.get("unit", "customers")
    if diff["from"] is None and diff["from_period"] is None:
        found = [b for b in diff["barriers"] if b["status"] == "new"]
        head = f"First version for {persona} ({diff['to_period']}): "
        if diff.get("too_few"):
            return head + f"too few {unit} to tell (fewer than {diff.get('min_customers')})."
        return head + (f"{len(found)} barrier(s) found." if found else "no barriers found.")
    head = f"{persona}, {diff['to'] or diff['to_period']} vs {diff['from'] or diff['from_period']}: "
    parts = []
    for status in ("worsened", "new", "returned", "improved", "resolved"):
        for b in (b for b in diff["barriers"] if b["status"] == status):
            what = "complaint theme" if b["kind"] == "emerging" else "barrier"
            title = f"“{b['title']}”" if b["kind"] == "emerging" else b["title"]
            since = f" (last seen {b['last_seen']})" if status == "returned" and b.get("last_seen") else ""
            parts.append(f"{what} {title} {VERBS[status]}{since} at {stage_label(diff, b['stage'])}: {measure_text(b, unit)}")
    metrics = [m for m in diff["metrics"] if m["flagged"]]
    if metrics:
        shown = ", ".join(f"{m['metric'].replace('_', ' ')} at {stage_label(diff, m['stage'])} {_fmt(m['from'])} → {_fmt(m['to'])} ({m['change']})"
                          for m in metrics[:4])
        parts.append(f"{len(metrics)} metric change{'s' if len(metrics) != 1 else ''}: {shown}")
    if diff.get("too_few"):
        parts.append(f"too few {unit} to tell barrier changes (fewer than {diff.get('min_customers')} in a version)")
    return head + ("; ".join(parts) + "." if parts else "no significant change.")


def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if value >= 0.001 or value == 0 else f"{100 * value:.2f}%"


def _points(value: float) -> str:
    text = f"{100 * value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def to_markdown(diff: dict[str, Any]) -> str:
    """The diff as short Markdown, fit to paste into an email or a chat."""
    name = diff.get("persona_name") or diff["persona"]
    lines = [f"**{_md(name)}: {diff.get('to') or diff['to_period']} vs {diff.get('from') or diff.get('from_period') or '—'}**", "",
             _md(diff["summary"]), ""]
    flagged = [b for b in diff["barriers"] if b["flagged"]]
    if flagged:
        lines += ["| barrier | stage | change | severity | measure |", "| --- | --- | --- | --- | --- |"]
        for b in flagged:
            sev = f"{b['severity_from'] if b['severity_from'] is not None else '—'} → {b['severity_to'] if b['severity_to'] is not None else '—'}"
            lines.append(f"| {_md(b['title'])} | {_md(stage_label(diff, b['stage']))} | {b['status']} | {sev} | {_md(measure_text(b, diff.get('unit', 'customers')))} |")
        lines.append("")
    metrics = [m for m in diff["metrics"] if m["flagged"]]
    if metrics:
        lines += ["Metric changes: " + "; ".join(f"{m['metric'].replace('_', ' ')} at {_md(stage_label(diff, m['stage']))} "
                                                 f"{_fmt(m['from'])} → {_fmt(m['to'])} ({m['change']})" for m in metrics), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    """Table-cell text from untrusted input: markup characters escaped, angle brackets as entities
    (chat clients that ignore backslash escapes still show them as text)."""
    escaped = "".join("\\" + ch if ch in "\\|*_`[]#" else ch for ch in str(text))
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
