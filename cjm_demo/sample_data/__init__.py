"""Deterministic sample data for the demo retailer: customers, surveys, reviews and sales.

The generator describes a small world that follows the configuration contract
(``configs/stages.yaml``, ``configs/personas.yaml``, ``configs/barriers.yaml``): every event type,
survey question, persona and barrier id it writes comes from those files. What the world *does*
(how each persona moves through the journey, which barriers are planted when, how customers
phrase their complaints) is the model kept in this package:

    world.py      the world model's constants, how each persona behaves, and the world read
                  from the configuration (checked against the model)
    texts.py      what customers write: text templates and the pools composed from them
    schedule.py   the planted barriers per period and persona, the ground truth, a period's plan
    customers.py  the customer registry over all quarters and each quarter's cohort
    journeys.py   one block of customers: sales events, survey answers and reviews
    arrays.py     vectorised helpers: categorical draws, per-group sums, id columns
    writers.py    one period's files, written chunk by chunk

This module holds the public API: :func:`generate_sample_data`, :func:`sample_texts` and
:class:`SampleDataSummary`.

Layout written under ``out``::

    customers.csv                        every customer of every quarter
    <period>/surveys.csv                 one row per answer to one question
    <period>/reviews.jsonl               one review per line, ~15 % anonymous
    <period>/sales/part-NNNNN.parquet    sales events, one part per chunk of customers
    ground_truth.json                    what was planted: barriers per period and persona,
                                         the changes between quarters, the noise-only pairs

Ground truth semantics:

* a catalog barrier's ``intensity`` is the probability that a text (a non-empty survey comment or
  a review) of that persona about the barrier's stage mentions it;
* a metric barrier's ``value`` is the expected value of its metric for that persona: a rate
  (cancellation, failed payments, late deliveries, returns), the evaluation -> purchase
  conversion, or the mean CSAT of the stage;
* between consecutive quarters a barrier is ``new``, ``resolved``, ``worsened`` (strength at least
  2.5x higher) or ``improved`` (strength at most half, still clearly detectable); a noise-only pair
  keeps every barrier and intensity, only the sampling differs.

Random numbers come from ``numpy.random.default_rng`` seeded with (seed, purpose, period, block)
where a block is a fixed run of 1000 customers: the output is byte-identical for the same
arguments whatever the chunk size used to write it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cjm_tasks.periods import Period, PeriodError
from cjm_tasks.resources import configs_dir

from cjm_demo.sample_data.customers import _CustomerRegistry
from cjm_demo.sample_data.schedule import _ground_truth, _plan_period, _schedule_barriers
from cjm_demo.sample_data.texts import _LANGS
from cjm_demo.sample_data.world import BASE_CUSTOMERS, BLOCK_CUSTOMERS, CHUNK_CUSTOMERS, _load_world
from cjm_demo.sample_data.writers import _write_period

log = logging.getLogger(__name__)

__all__ = ["BASE_CUSTOMERS", "BLOCK_CUSTOMERS", "CHUNK_CUSTOMERS", "CONFIG_DIR", "Progress", "SampleDataSummary",
           "generate_sample_data", "sample_texts"]

CONFIG_DIR = configs_dir()

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class SampleDataSummary:
    """What :func:`generate_sample_data` wrote."""

    out: Path
    periods: list[str]
    customers: int
    sales_events: int
    reviews: int
    survey_answers: int
    files: list[Path]


def generate_sample_data(
    out: Path,
    quarters: int = 4,
    start: str = "2025Q1",
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
    *,
    chunk_customers: int = CHUNK_CUSTOMERS,
) -> SampleDataSummary:
    """Write a deterministic demo data set (customers, surveys, reviews, sales, ground truth).

    ``out`` receives ``customers.csv``, ``ground_truth.json`` and one folder per quarter
    (``<period>/surveys.csv``, ``<period>/reviews.jsonl``, ``<period>/sales/part-NNNNN.parquet``);
    files this generator wrote there before are replaced. ``quarters`` consecutive quarters start
    at ``start`` (``YYYYQn``); ``scale`` multiplies the ~1500 active customers per quarter (about
    10 events each); the same ``seed`` and arguments give byte-identical files.
    ``progress(step, fraction_done)`` is called after each chunk and at the end.
    ``chunk_customers`` customers of a quarter go into one sales part file; it is rounded up to a
    multiple of :data:`BLOCK_CUSTOMERS` so that the rows written never depend on it (only how
    they are split into files does).

    Returns a :class:`SampleDataSummary` with the counts and every file written.
    Raises ``ValueError`` for ``quarters < 1``, ``scale <= 0``, a negative or non-integer seed, a
    start that is not a quarter, ``chunk_customers < 1``, or configuration files the demo world
    does not fit.
    """
    periods = _check_arguments(quarters, start, seed, scale, chunk_customers)
    world = _load_world(CONFIG_DIR)
    blocks_per_chunk = -(-chunk_customers // BLOCK_CUSTOMERS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _step, _fraction: None)
    log.info("generating sample data: %d quarters from %s, seed %d, scale %g into %s",
             quarters, periods[0], seed, scale, out)

    states = _schedule_barriers(world, len(periods), seed)
    truth = _ground_truth(world, periods, states, seed, scale)
    files: list[Path] = []
    totals = {"sales": 0, "surveys": 0, "reviews": 0}
    registry = _CustomerRegistry(world)
    customers_path = out / "customers.csv"
    customers_path.unlink(missing_ok=True)
    files.append(customers_path)
    n_active = max(round(BASE_CUSTOMERS * scale), len(world.personas))

    for index, period in enumerate(periods):
        cohort = registry.enrol(period, index, n_active, seed)
        cohort.new_customers.to_csv(customers_path, mode="a", header=index == 0, index=False, encoding="utf-8",
                                    lineterminator="\n")
        truth["customers_per_period"][str(period)] = {
            name: int(n) for name, n in zip(world.personas, cohort.persona_counts, strict=True)}
        plan = _plan_period(world, period, states[index])
        written = _write_period(out, world, plan, cohort, registry, seed, blocks_per_chunk,
                                lambda done, i=index: report(
                                    f"{periods[i]}: {done:,} of {len(cohort.customers):,} customers",
                                    (i + done / len(cohort.customers)) / len(periods)))
        files.extend(written.files)
        for key in totals:
            totals[key] += getattr(written, key)

    truth_path = out / "ground_truth.json"
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files.append(truth_path)
    report("sample data written", 1.0)
    summary = SampleDataSummary(
        out=out, periods=[str(p) for p in periods], customers=registry.size,
        sales_events=totals["sales"], reviews=totals["reviews"], survey_answers=totals["surveys"],
        files=files)
    log.info("sample data: %d customers, %d sales events, %d reviews, %d survey answers",
             summary.customers, summary.sales_events, summary.reviews, summary.survey_answers)
    return summary


def _check_arguments(quarters: object, start: object, seed: object, scale: object,
                     chunk_customers: object) -> list[Period]:
    if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < 1:
        raise ValueError(f"quarters must be an integer >= 1, got {quarters!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale)
            or scale <= 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if isinstance(chunk_customers, bool) or not isinstance(chunk_customers, int) or chunk_customers < 1:
        raise ValueError(f"chunk_customers must be an integer >= 1, got {chunk_customers!r}")
    try:
        first = Period.parse(str(start))
    except PeriodError as exc:
        raise ValueError(f"start: {exc}") from exc
    return first.range(quarters)


def sample_texts() -> dict[str, list[str]]:
    """Every text the demo world can write, grouped by what it is about.

    Keys are ``complaint:<barrier id>`` (texts that mention that catalog barrier) and
    ``negative:<stage>``, ``neutral:<stage>``, ``positive:<stage>`` (texts that mention no barrier).
    Useful to check the templates against the barrier keywords. Raises ``ValueError`` when the
    configuration does not fit the demo world.
    """
    world = _load_world(CONFIG_DIR)
    pools = world.pools
    names = ([f"complaint:{b}" for b in world.catalog] + [f"negative:{s}" for s in world.stages]
             + [f"neutral:{s}" for s in world.stages] + [f"positive:{s}" for s in world.stages])
    out: dict[str, list[str]] = {name: [] for name in names}
    for lang in range(len(_LANGS)):
        for category, name in enumerate(names):
            key = lang * pools.categories + category
            out[name].extend(pools.texts[pools.offset[key]: pools.offset[key] + pools.size[key]])
    return out
