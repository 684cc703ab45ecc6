"""Writing one seed's world as the retailer exports it (survey, reviews, order events,
customers, truth), and reading its truth back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cjm_tasks.periods import Period

from cjm_demo.evaluation_data.simulation import COMMENT_COLUMN, QUESTIONS, _Registry, _simulate_quarter
from cjm_demo.evaluation_data.world import (
    GENERATOR_VERSION, QUARTERS, SEGMENTS, START, TIMEZONE, TOPICS, plan_prevalence, planted_changes,
)


@dataclass(frozen=True)
class Generated:
    """Where :func:`generate` wrote one seed's world, and its truth."""

    folder: Path
    periods: list[str]
    survey_shape: str
    truth: dict[str, Any]


def survey_shape(seed: int) -> str:
    """``wide`` (one row per response) for even seeds, ``long`` (one row per answer) for odd."""
    return "long" if seed % 2 else "wide"


def generate(out: str | os.PathLike, seed: int, scale: float = 1.0, quarters: int = QUARTERS, start: Period = START) -> Generated:
    """Write one seed's world under ``out`` (see the package docstring for the layout).

    Deterministic: the same arguments write byte-identical files. Raises ``ValueError`` for a
    negative seed, a scale outside (0, 20] or fewer than 4 quarters (a noise-only pair, and a
    barrier resolved and then back in two more pairs).
    """
    if seed < 0 or not 0 < scale <= 20 or quarters < 4:
        raise ValueError(f"need seed >= 0, 0 < scale <= 20 and quarters >= 4; got seed={seed}, scale={scale}, quarters={quarters}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    periods = start.range(quarters)
    names = [str(p) for p in periods]
    shape = survey_shape(seed)
    prevalence, noise = plan_prevalence(np.random.default_rng([seed, GENERATOR_VERSION, 1]), quarters)
    registry = _Registry()
    counts: dict[str, dict[str, Any]] = {}
    for q, period in enumerate(periods):
        rng = np.random.default_rng([seed, GENERATOR_VERSION, 2, q])
        quarter = _simulate_quarter(rng, period, q, prevalence, registry, scale, shape == "long")
        target = folder / str(period)
        target.mkdir(parents=True, exist_ok=True)
        _write_events(target / "order_events.parquet", quarter.events)
        (_write_long_survey if shape == "long" else _write_wide_survey)(target / "survey_export.csv", quarter.surveys)
        _write_jsonl(target / "reviews.jsonl", quarter.reviews)
        _write_jsonl(target / "text_labels.jsonl", quarter.labels)
        counts[str(period)] = quarter.counts
    _write_customers(folder / "customers.csv", registry)
    truth = {
        "generator": f"cjm_demo.evaluation_data v{GENERATOR_VERSION}",
        "seed": seed, "scale": scale, "periods": names, "survey_shape": shape, "timezone": TIMEZONE,
        "personas": {s.persona: {"segment": s.code, "write_probability": s.write_probability,
                                 "neutral_probability": s.neutral_probability, "survey_share": s.survey_share} for s in SEGMENTS},
        "barriers": {t.key: {"kind": "catalog" if t.catalog else "uncatalogued", "stage": t.stage, "signature": list(t.signature)}
                     for t in TOPICS},
        "prevalence": {name: {persona: {key: values[q] for key, values in topics.items()} for persona, topics in prevalence.items()}
                       for q, name in enumerate(names)},
        "pairs": [{"from": names[j], "to": names[j + 1], "noise_only": j == noise} for j in range(quarters - 1)],
        "noise_only_pairs": [[names[noise], names[noise + 1]]],
        "changes": planted_changes(names, prevalence),
        "counts": counts,
    }
    (folder / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return Generated(folder, names, shape, truth)


def _write_events(path: Path, events: list[tuple]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*events))
    table = pa.table({
        "event_uid": pa.array(columns[0], pa.string()),
        "client_id": pa.array(columns[1], pa.string()),
        "segment": pa.array(columns[2], pa.string()),
        "event_name": pa.array(columns[3], pa.string()),
        "event_time": pa.array(columns[4], pa.timestamp("s")),
        "touchpoint": pa.array(columns[5], pa.string()),
        "order_no": pa.array(columns[6], pa.string()),
        "amount_rub": pa.array(columns[7], pa.float64()),
    })
    pq.write_table(table, path, compression="zstd")


def _write_wide_survey(path: Path, responses: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["response_no", "client_id", "submitted", *[q[3] for q in QUESTIONS], COMMENT_COLUMN])
        for r in responses:
            scores = ["" if r["answers"][q[0]] is None else str(r["answers"][q[0]]) for q in QUESTIONS]
            writer.writerow([r["response"], r["customer"], r["at"], *scores, r["comments"].get("*", "")])


def _write_long_survey(path: Path, responses: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["answer_id", "response_no", "client_id", "submitted", "question", "score", "comment"])
        n = 0
        for r in responses:
            for qid, _, _, _, question in QUESTIONS:
                if r["answers"][qid] is None:
                    continue
                n += 1
                writer.writerow([f"A{n:07d}", r["response"], r["customer"], r["at"], question, r["answers"][qid], r["comments"].get(qid, "")])


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_customers(path: Path, registry: _Registry) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["client_id", "segment", "city", "registered"])
        for c in registry.customers.values():
            writer.writerow([c.id, c.segment.code, c.city, c.registered])


# ------------------------------------------------------------------------------ running it


def read_truth(data_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``truth.json`` :func:`generate` wrote in ``data_dir``."""
    return json.loads((Path(data_dir) / "truth.json").read_text(encoding="utf-8"))


def file_hashes(folder: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path (to compare two generations)."""
    root = Path(folder)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
