"""Writing one period: blocks are simulated in order; a chunk of blocks is one sales part file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cjm_demo.sample_data.arrays import _customer_ids, _ids
from cjm_demo.sample_data.customers import _Cohort, _CustomerRegistry
from cjm_demo.sample_data.journeys import _BlockData, _simulate_block
from cjm_demo.sample_data.schedule import _Plan
from cjm_demo.sample_data.texts import _LANGS
from cjm_demo.sample_data.world import (
    BLOCK_CUSTOMERS, _CHANNELS, _EVENT_TYPES, _REVIEW_SOURCES, _SURVEY_CHANNELS, _TAG_BLOCK, _World,
)


@dataclass(frozen=True)
class _Written:
    files: list[Path]
    sales: int
    surveys: int
    reviews: int


_SURVEY_COLUMNS = ("response_id", "customer_id", "answered_at", "question", "score", "comment", "channel")
_SALES_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("customer_id", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("event_type", pa.string()), ("channel", pa.string()), ("amount", pa.float64()), ("order_id", pa.string()),
])


def _blocks(cohort: _Cohort) -> Iterator[tuple[int, slice]]:
    for b, lo in enumerate(range(0, cohort.customers.size, BLOCK_CUSTOMERS)):
        yield b, slice(lo, lo + BLOCK_CUSTOMERS)


def _write_period(out: Path, world: _World, plan: _Plan, cohort: _Cohort, registry: _CustomerRegistry,
                  seed: int, blocks_per_chunk: int, report: Callable[[int], None]) -> _Written:
    period = str(plan.period)
    folder, sales_dir = out / period, out / period / "sales"
    sales_dir.mkdir(parents=True, exist_ok=True)
    # Parts of an earlier run with more chunks would otherwise be read as this run's data.
    for stale in sales_dir.glob("part-*.parquet"):
        stale.unlink()
    surveys_path, reviews_path = folder / "surveys.csv", folder / "reviews.jsonl"
    counters = {"event": 0, "order": 0, "survey": 0, "review": 0}
    files = [surveys_path, reviews_path]
    parts = 0
    chunk: list[_BlockData] = []
    blocks = list(_blocks(cohort))
    with surveys_path.open("w", encoding="utf-8", newline="") as surveys_file, \
            reviews_path.open("w", encoding="utf-8", newline="") as reviews_file:
        surveys_file.write(",".join(_SURVEY_COLUMNS) + "\n")
        for b, rows in blocks:
            rng = np.random.default_rng([seed, _TAG_BLOCK, plan.period.year, plan.period.quarter, b])
            customers = cohort.customers[rows]
            chunk.append(_simulate_block(rng, world, plan, customers, cohort.persona[rows],
                                         cohort.returning[rows], registry.lang[customers]))
            if len(chunk) == blocks_per_chunk or b == len(blocks) - 1:
                part = sales_dir / f"part-{parts:05d}.parquet"
                parts += 1
                _write_chunk(chunk, part, surveys_file, reviews_file, world, plan, counters)
                files.append(part)
                chunk = []
                report(min(rows.stop, cohort.customers.size))
    return _Written(files=files, sales=counters["event"], surveys=counters["survey"], reviews=counters["review"])


def _write_chunk(chunk: list[_BlockData], part: Path, surveys_file: TextIO, reviews_file: TextIO, world: _World,
                 plan: _Plan, counters: dict[str, int]) -> None:
    period = str(plan.period)
    order_base, offsets = counters["order"], []
    for block in chunk:
        offsets.append(order_base)
        order_base += block.orders
    sales = {key: np.concatenate([b.sales[key] for b in chunk]) for key in chunk[0].sales}
    local_order = np.concatenate([np.where(b.sales["order"] >= 0, b.sales["order"] + off, -1)
                                  for b, off in zip(chunk, offsets, strict=True)])
    n = sales["customer"].size
    has_order = local_order >= 0
    table = pa.table({
        "event_id": _ids(f"E{period}-", counters["event"] + np.arange(1, n + 1), 9),
        "customer_id": _customer_ids(sales["customer"]),
        "occurred_at": pa.array((plan.start + sales["second"]) * 1_000_000, type=pa.int64()).cast(
            pa.timestamp("us", tz="UTC")),
        "event_type": pa.array(np.array(_EVENT_TYPES, dtype=object)[sales["event"]], type=pa.string()),
        "channel": pa.array(np.array(_CHANNELS, dtype=object)[sales["channel"]], type=pa.string()),
        "amount": pa.array(sales["amount"], type=pa.float64(), from_pandas=True),
        "order_id": pc.if_else(pa.array(has_order), _ids(f"O{period}-", np.maximum(local_order, 0) + 1, 8),
                               pa.scalar(None, pa.string())),
    }, schema=_SALES_SCHEMA)
    pq.write_table(table, part, compression="zstd")
    counters["event"] += n
    counters["order"] = order_base

    surveys = {key: np.concatenate([b.surveys[key] for b in chunk]) for key in chunk[0].surveys}
    m = surveys["customer"].size
    pd.DataFrame({
        "response_id": _strings(_ids(f"S{period}-", counters["survey"] + np.arange(1, m + 1), 7)),
        "customer_id": _strings(_customer_ids(surveys["customer"])),
        "answered_at": _iso(plan, surveys["second"]),
        "question": np.array(world.question_ids, dtype=object)[surveys["question"]],
        "score": surveys["score"],
        "comment": surveys["text"],
        "channel": np.array(_SURVEY_CHANNELS, dtype=object)[surveys["channel"]],
    }, columns=_SURVEY_COLUMNS).to_csv(surveys_file, header=False, index=False, lineterminator="\n")
    counters["survey"] += m

    reviews = {key: np.concatenate([b.reviews[key] for b in chunk]) for key in chunk[0].reviews}
    r = reviews["customer"].size
    known = reviews["customer"] >= 0
    customer_ids = np.where(known, _strings(_customer_ids(np.maximum(reviews["customer"], 0))), None)
    frame = pd.DataFrame({
        "review_id": _strings(_ids(f"R{period}-", counters["review"] + np.arange(1, r + 1), 7)),
        "customer_id": pd.Series(customer_ids, dtype=object),
        "published_at": _iso(plan, reviews["second"]),
        "rating": reviews["rating"],
        "text": reviews["text"],
        "source": np.array(_REVIEW_SOURCES, dtype=object)[reviews["source"]],
        "language": np.array(_LANGS, dtype=object)[reviews["lang"]],
    })
    if r:
        reviews_file.write(frame.to_json(orient="records", lines=True, force_ascii=False))
    counters["review"] += r


def _strings(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


def _iso(plan: _Plan, seconds: np.ndarray) -> np.ndarray:
    moments = pa.array(plan.start + seconds, type=pa.int64()).cast(pa.timestamp("s", tz="UTC"))
    return _strings(pc.strftime(moments, format="%Y-%m-%dT%H:%M:%SZ"))
