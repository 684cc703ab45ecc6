"""An evaluation of change detection on data written apart from the barrier catalog.

The sample generator (:mod:`cjm_demo.sample_data`) writes complaints from the catalog's own
keywords, so scoring the diff on it only shows that the pipeline finds what it was told to look
for. This package describes a second, independent world: a retailer whose customers of three
segments complain in their own words (English and Russian, several paraphrases per barrier,
varied word forms, typos), exported the way another company would export them. The generator
knows the catalog's barrier *ids* and what each barrier means, never its keywords; how many of
the written complaints the catalog can read at all is measured afterwards
(:func:`keyword_coverage`), not designed in.

Three parts, each usable alone:

- :func:`generate` writes one seed's world under a folder: five quarters of a survey export
  (wide for even seeds, long for odd seeds), reviews (JSON Lines, no stage), order events
  (Parquet, the company's own event names), ``customers.csv`` and ``truth.json`` (the true
  prevalence of every planted barrier per quarter and segment, the planted changes, the
  noise-only quarter pairs, and what customers actually met and wrote).
- :func:`run_pipeline` runs the real pipeline (``build_period`` then ``store_maps``) over the
  quarters with the example config ``configs/examples/evaluation/``.
- :func:`score` compares every stored diff with the truth; :func:`summarize` pools the scores of
  several seeds into precision and recall with Wilson 95% intervals.

``benchmarks/eval_changes.py`` is the command line over :func:`run_seed` and :func:`summarize`;
``docs/evaluation.md`` explains the world and the scoring rules.

Modules (this one holds the public API):

    world.py       segments, complaint topics, the planted prevalence per segment and quarter
    complaints.py  what customers say about each topic: paraphrases and plain phrasings
    texts.py       how they write it: filled in, with typos, joined; the Dice draws come from
    simulation.py  one quarter: who is active, what they meet, do, answer and write
    writers.py     :func:`generate`: the exports and ``truth.json`` of one seed
    runner.py      the real pipeline over a generated world; :func:`run_seed` end to end
    scoring.py     :func:`score`, :func:`summarize` and :func:`keyword_coverage`

Layout written by :func:`generate`::

    customers.csv                       one row per customer ever active, with the segment
    truth.json                          what was planted and what happened
    <period>/survey_export.csv          ';'-separated, UTF-8 with BOM, dd.mm.yyyy hh:mm times
    <period>/reviews.jsonl              no stage field; ~12 % anonymous
    <period>/order_events.parquet       one row per event, the segment repeated on every row
    <period>/text_labels.jsonl          which barriers each written text is about (for scoring
                                        the keyword matcher; the pipeline never reads it)
"""

from __future__ import annotations

from cjm_demo.evaluation_data.runner import (
    DATA_ENV, EXAMPLE_DIR, SITE_ENV, STORE_ENV, WORK_ENV, collect_diffs, config_path, load_evaluation_config, run_pipeline,
    run_seed,
)
from cjm_demo.evaluation_data.scoring import MANY_TEXTS, keyword_coverage, score, summarize, wilson
from cjm_demo.evaluation_data.texts import sample_complaints
from cjm_demo.evaluation_data.world import (
    CATALOG_TOPICS, DIRECTION, TOPICS, UNCATALOGUED_TOPICS, Segment, Topic, change_type, size_class,
)
from cjm_demo.evaluation_data.writers import Generated, file_hashes, generate, read_truth, survey_shape

__all__ = [
    "CATALOG_TOPICS", "DATA_ENV", "DIRECTION", "EXAMPLE_DIR", "MANY_TEXTS", "SITE_ENV", "STORE_ENV", "TOPICS",
    "UNCATALOGUED_TOPICS", "WORK_ENV", "Generated", "Segment", "Topic", "change_type", "collect_diffs", "config_path",
    "file_hashes", "generate", "keyword_coverage", "load_evaluation_config", "read_truth", "run_pipeline", "run_seed",
    "sample_complaints", "score", "size_class", "summarize", "survey_shape", "wilson",
]
