"""A source's section of cjm.yaml: where the file is (with {period} for a quarter in its name), its
format and CSV options, which column is what (by source, :mod:`.roles` and :mod:`.surveys`) and
how its rows fall into quarters."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from cjm_tasks.ingest.scaffold.columns import Col
from cjm_tasks.ingest.scaffold.notes import Notes
from cjm_tasks.ingest.scaffold.roles import Plan, _plan_customers, _plan_reviews, _plan_sales
from cjm_tasks.ingest.scaffold.samples import Sample
from cjm_tasks.ingest.scaffold.surveys import _plan_surveys
from cjm_tasks.ingest.scaffold.writer import Comment, Note

if TYPE_CHECKING:
    import pandas as pd


def _plan(name: str, sample: Sample, cols: dict[str, Col], out: Path, notes: Notes, known: dict[str, set[str]]) -> Plan:
    others = {source: ids for source, ids in known.items() if source != name}
    plan = Plan(name=name, sample=sample, cols=cols, known=others)
    rows = len(sample.frame)
    more = f" (the file has more: sampled the first {rows:,})" if sample.truncated else ""
    plan.tree[Comment(f"{rows:,} rows sampled from {sample.path}{more}")] = None
    location, plan.period, why = _location(sample, out, notes, name)
    plan.tree["location"] = Note(location, why)
    plan.tree["format"] = Note(sample.format, notes.guess(name, "format", sample.format, f"the file name ends in {sample.files[0].suffix}"))
    if sample.format == "csv":
        evidence = "; ".join(sample.reading)
        notes.guess(name, "csv", ", ".join(f"{k} {v!r}" for k, v in sample.csv.items()), evidence)
        plan.tree["csv"] = Note(dict(sample.csv), evidence, flow=True)
    if sample.format == "xlsx" and len(sample.sheets) > 1:
        plan.tree["sheet"] = Note(sample.sheets[0], f"the first of {len(sample.sheets)} sheets: {', '.join(sample.sheets)}")
    {"surveys": _plan_surveys, "reviews": _plan_reviews, "sales": _plan_sales, "customers": _plan_customers}[name](plan, notes)
    if name != "customers":
        _period_rows(plan, notes)
    head = {k: v for k, v in plan.tree.items() if isinstance(k, Comment)}
    plan.tree = {**head, **{k: plan.tree[k] for k in KEY_ORDER if k in plan.tree}}
    return plan


KEY_ORDER = ("location", "format", "csv", "sheet", "timestamp_format", "period_rows", "row_id", "layout", "columns", "values",
             "constants", "text_questions", "melt", "scales", "attributes")


def _location(sample: Sample, out: Path, notes: Notes, name: str) -> tuple[str, str | None, str]:
    """(location, the quarter its name holds, comment): relative to ``out`` below a common
    parent, else absolute; a quarter such as 2025Q1 in the name becomes {period}."""
    path = sample.path.resolve()
    target = path / f"*{sample.files[0].suffix}" if sample.path.is_dir() else path
    base = out.resolve()
    common = Path(os.path.commonpath([str(target), str(base)]))
    text = os.path.relpath(target, base) if common.parent != common else str(target)
    text = text.replace(os.sep, "/")
    why = "relative to this file's folder" if common.parent != common else "absolute: no folder holds both this file and the data"
    found = re.findall(r"(?<![0-9])(\d{4})([-_ ]?)([Qq])([1-4])(?![0-9])", str(target))
    if not found:
        return text, None, why
    year, joiner, q, number = found[-1]
    literal = f"{year}{joiner}{q}{number}"
    if joiner or q != "Q":
        message = (f"the file name holds the quarter as {literal!r}, but {{period}} is written {year}Q{number}: "
                   f"rename the files to use {{period}} in location, or keep one file with period_rows: filter")
        return text, None, notes.todo("cjm.yaml", f"sources.{name}.location", message)
    notes.guess(name, "location", text.replace(literal, "{period}"), f"{literal} in the file name becomes {{period}}")
    return text.replace(literal, "{period}"), f"{year}Q{number}", f"{literal} in the name becomes {{period}}, the quarter read; {why}"


def _period_rows(plan: Plan, notes: Notes) -> None:
    if plan.period:
        plan.quarters = [plan.period]
    if plan.when is None:
        return
    quarters = _quarters(plan.when)
    plan.quarters = sorted(quarters)
    if plan.period:
        outside = sum(n for q, n in quarters.items() if q != plan.period)
        if not outside:
            plan.tree["period_rows"] = Note("require", f"every sampled timestamp lies in {plan.period}: a row outside its quarter fails the gate")
        else:
            total = sum(quarters.values())
            plan.tree["period_rows"] = Note("filter", f"{outside:,} of {total:,} sampled timestamps lie outside {plan.period}: keep the quarter's rows")
        plan.quarters = sorted(set(plan.quarters) | {plan.period})
    else:
        span = f"{plan.quarters[0]}..{plan.quarters[-1]}" if plan.quarters else "no quarter"
        plan.tree["period_rows"] = Note("filter", f"one file for every quarter (the sample spans {span}): each run keeps its quarter's rows")


def _quarters(when: pd.Series) -> dict[str, int]:
    stamps = when.dropna()
    if not len(stamps):
        return {}
    naive = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return {str(k): int(v) for k, v in naive.dt.to_period("Q").value_counts().sort_index().items()}
