"""The files ``cjm init`` writes, as text: cjm.yaml (project, files, sources, storage, metrics),
stages.yaml, personas.yaml, expectations.yaml (the gate, sized from the sample) and the catalog
copies."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cjm_tasks.ingest.scaffold.journey import BUNDLED, _assign_metrics, _catalog_copy, _stages
from cjm_tasks.ingest.scaffold.notes import Notes
from cjm_tasks.ingest.scaffold.personas import _personas
from cjm_tasks.ingest.scaffold.roles import Plan
from cjm_tasks.ingest.scaffold.writer import Comment, Note, _dump

if TYPE_CHECKING:
    import pandas as pd

SOURCES = ("surveys", "reviews", "sales", "customers")
MOSTLY = {"not_null": 1.0, "unique": 1.0, "range": 1.0, "in_set": 1.0, "in_period": 1.0}


def _documents(plans: dict[str, Plan], out: Path, notes: Notes) -> dict[str, str]:
    """The text of every file to write, keyed by file name."""
    scales = _assign_metrics(plans, notes)
    stages_doc, rates = _stages(plans, notes)
    personas_doc = _personas(plans, notes)
    docs = {
        "cjm.yaml": _dump(_main(plans, scales, out, notes)),
        "stages.yaml": _dump(stages_doc),
        "personas.yaml": _dump(personas_doc),
        "expectations.yaml": _dump(_expectations(plans, notes)),
        "barriers.yaml": _catalog_copy(rates),
        "barrier_examples.yaml": (BUNDLED / "barrier_examples.yaml").read_text(encoding="utf-8"),
    }
    return docs


def _main(plans: dict[str, Plan], scales: dict[str, Any], out: Path, notes: Notes) -> dict:
    texts = [t for plan in plans.values() for t in plan.texts]
    language, why = _language(texts)
    notes.guess("project", "language", language, why)
    first = sorted(q for p in plans.values() for q in p.quarters)
    tree = {
        Comment("Written by `cjm init` from samples of your files: every guess says what it rests on, and"): None,
        Comment("comments starting with TODO mark what it could not guess (one each). Check them, then run"): None,
        Comment(f"  cjm --config {out / 'cjm.yaml'} config check --period {first[0] if first else '<quarter>'}"): None,
        Comment("Relative paths resolve against this file's folder; ${VAR} and ${VAR:-default} read the environment."): None,
        "project": {
            "name": Note("Customer journey maps", "shown on the published reports"),
            "language": Note(language, why),
            "timezone": Note("UTC", "assumed: quarters are cut, and timestamps without an offset read, in this zone (e.g. Europe/Moscow)"),
        },
        "files": {
            "stages": "stages.yaml",
            "personas": "personas.yaml",
            "barriers": Note("barriers.yaml", "a copy of the bundled catalog"),
            "expectations": "expectations.yaml",
            "examples": Note("barrier_examples.yaml", "more example complaints for the catalog (docs/barriers.md, \"Matching\")"),
        },
        "sources": {name: plans[name].tree for name in SOURCES if name in plans},
        "storage": {
            Comment("folders (or s3:// prefixes) for the run workspace, the version store and the published site"): None,
            "work": "build/work",
            "versions": "build/store",
            "site": "build/site",
        },
        "metrics": {"scales": Note(scales, "survey metrics and their scales (csat, nps, ces: the bundled ones)")},
    }
    return tree


def _language(texts: list[pd.Series]) -> tuple[str, str]:
    sample = " ".join(" ".join(t.head(2000).astype(str)) for t in texts)
    cyrillic = len(re.findall(r"[а-яёА-ЯЁ]", sample))
    latin = len(re.findall(r"[a-zA-Z]", sample))
    if not cyrillic + latin:
        return "en", "no free text in the samples: reports in English"
    share = cyrillic / (cyrillic + latin)
    if share > 0.5:
        return "ru", f"{share:.0%} of the letters of the sampled texts are Cyrillic"
    return "en", f"{1 - share:.0%} of the letters of the sampled texts are Latin"


def _expectations(plans: dict[str, Plan], notes: Notes) -> dict:
    tree: dict = {
        Comment("The validation gate, written by `cjm init` (check kinds as in the bundled configs/expectations.yaml):"): None,
        Comment("min_rows stops a quarter too thin to map: about a tenth of the rows a quarter seen in the sample."): None,
    }
    for name in SOURCES:
        if name not in plans:
            continue
        plan = plans[name]
        per_quarter, why = _per_quarter(plan)
        section: dict = {"min_rows": Note(max(10, round(per_quarter / 10)), why)}
        section["mostly"] = Note(dict(MOSTLY) if name != "customers" else {"not_null": 1.0, "unique": 1.0}, flow=True)
        extra = []
        if name == "surveys" and plan.comment:
            extra.append({"expectation": "expect_column_value_lengths_to_be_between", "kwargs": Note({"column": "comment", "max_value": 4000}, flow=True)})
        if name == "sales" and plan.amount_max is not None:
            ceiling = 10 ** math.ceil(math.log10(max(plan.amount_max, 1) * 10))
            extra.append({"expectation": "expect_column_values_to_be_between",
                          "kwargs": Note({"column": "amount", "min_value": 0, "max_value": ceiling},
                                         f"the sample's largest amount is {plan.amount_max:,.2f}: far more is a unit or parsing error", flow=True)})
        if name == "customers" and plan.customer is not None:
            col = plan.cols[plan.customer]
            if col.distinct < col.filled:
                section["mostly"] = Note(section["mostly"].value, notes.todo(
                    "expectations.yaml", "customers.mostly.unique",
                    f"{col.filled - col.distinct:,} of {col.filled:,} sampled rows repeat a customer id: dedupe the export or lower mostly.unique"), flow=True)
        if extra:
            section["extra"] = extra
        tree[name] = section
    return tree


def _per_quarter(plan: Plan) -> tuple[int, str]:
    """Rows (responses for a melted or long survey) a quarter in the sample, and how it was told."""
    frame = plan.sample.frame
    unit = "responses" if plan.name == "surveys" and (plan.units is not None or "melt" in plan.tree) else "rows"
    keys = plan.units if plan.units is not None else frame.index.to_series()
    cut = " at least (the sample was cut)" if plan.sample.truncated else ""
    if plan.when is None or plan.when.notna().sum() == 0 or plan.period:
        count = int(keys.nunique())
        return count, f"a tenth of the {count:,} {unit} of the sample{cut}"
    naive = plan.when.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("Q")
    counts = keys.groupby(naive.to_numpy()).nunique()
    counts = counts[counts > 0]
    median = int(counts.median())
    return median, f"a tenth of the {median:,} {unit} a quarter in the sample (median of {len(counts)} quarters){cut}"
