"""The files published beside each page for other tools: the barriers as CSV, the diff as
Markdown, the map and the diff as JSON (the stored bytes)."""

from __future__ import annotations

import csv
import io
from typing import Any

from cjm_tasks.site.changes import barrier_statuses
from cjm_tasks.site.context import Version
from cjm_tasks.site.labels import LANGUAGES, labels_for
from cjm_tasks.versions.wording import to_markdown

CSV_COLUMNS = ("stage", "id", "title", "kind", "severity", "change", "customers", "denominator", "unit", "prevalence",
               "metric", "value", "quote_1")
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a text starting like a formula gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def barriers_csv(doc: dict[str, Any], diff: dict[str, Any]) -> bytes:
    """One row per barrier of the map, stages in order and those not tied to a stage last
    (UTF-8 with a BOM so that Excel reads Cyrillic). Catalog barriers and themes fill customers,
    denominator, unit and prevalence (a fraction); metric barriers fill metric and value."""
    statuses = barrier_statuses(diff)
    unplaced = labels_for(doc.get("language") if doc.get("language") in LANGUAGES else "en")["not_tied_to_stage"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    placed = [(stage["name"], b) for stage in doc["stages"] for b in stage["barriers"]]
    for stage_name, b in placed + [(unplaced, b) for b in doc.get("unplaced", [])]:
        ev = b.get("evidence", {})
        metric = b["kind"] == "metric"
        counted = (None,) * 4 if metric else (ev.get("customers"), ev.get("denominator"), ev.get("unit"), ev.get("prevalence"))
        quote = b["quotes"][0]["text"] if b["quotes"] else None
        row = (stage_name, b["id"], b["title"], b["kind"], b["severity"], statuses.get(b["id"], "unchanged"), *counted,
               ev.get("metric") if metric else None, ev.get("value") if metric else None, quote)
        writer.writerow([csv_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def diff_exports(folder: str, diff: dict[str, Any], diff_bytes: bytes) -> dict[str, bytes]:
    """``diff.json`` (``diff_bytes``, as stored) and ``summary.md`` (the diff in Markdown) in ``folder``."""
    return {f"{folder}/diff.json": diff_bytes, f"{folder}/summary.md": to_markdown(diff).encode("utf-8")}


def version_exports(version: Version) -> dict[str, bytes]:
    """Every export of a stored version beside its page: map.json, diff.json, barriers.csv and summary.md."""
    return {f"{version.folder}/map.json": version.map_bytes,
            f"{version.folder}/barriers.csv": barriers_csv(version.doc, version.diff),
            **diff_exports(version.folder, version.diff, version.diff_bytes)}
