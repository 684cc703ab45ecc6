"""The Olist example (configs/examples/olist/) on the real Olist sample in shared/data/olist/.

The data file lives outside the repository (beside it, or where CJM_OLIST_CSV points); without
it the whole module is skipped. The gate reports go to a temporary folder, not to build/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO

CONFIG = REPO / "configs" / "examples" / "olist" / "cjm.yaml"
_LOCATION = os.environ.get("CJM_OLIST_CSV") or str(
    (CONFIG.parent / "../../../../shared/data/olist/olist_classified_public_dataset.csv").resolve())
if "://" not in _LOCATION and not Path(_LOCATION).is_file():
    pytest.skip(f"Olist sample not found at {_LOCATION} (set CJM_OLIST_CSV to its path)", allow_module_level=True)

CLASSES = {
    "atrasado": "late_delivery",
    "entrega_parcial": "partial_delivery",
    "baixa_qualidade": "low_quality",
    "diferente_do_anunciado": "not_as_advertised",
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory):
    """The example's configuration with its work, store and site folders in a temporary folder."""
    from cjm_tasks.config import StorageConfig, load_config

    loaded = load_config(CONFIG)
    tmp = tmp_path_factory.mktemp("olist")
    return loaded.model_copy(update={"storage": StorageConfig(work=str(tmp / "work"), versions=str(tmp / "store"), site=str(tmp / "site"))})


@pytest.fixture(scope="module")
def built_2018q1(config):
    """Maps of 2018Q1, the quarter with the most late deliveries of the full quarters."""
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import build_period

    return build_period(config, Period.parse("2018Q1"))


def test_config_loads_and_reads_one_file_for_three_sources(config):
    assert set(config.sources) == {"surveys", "sales", "customers"}
    assert {src.location for src in config.sources.values()} == {_LOCATION}
    assert [p.id for p in config.personas.personas] == ["split_basket", "north_northeast", "big_ticket", "home_living", "sao_paulo"]
    catalog = {b.id for b in config.barriers.catalog}
    assert set(CLASSES.values()) <= catalog
    assert all(b.keywords.get("pt") for b in config.barriers.catalog)


def test_gate_passes_on_2017q4(config):
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import read_and_validate

    outcome = read_and_validate(config, Period.parse("2017Q4"))
    assert outcome.result.success, outcome.result.summary()
    # The same counts computed independently, straight from the CSV with pandas.
    raw = pd.read_csv(_LOCATION, dtype=str)
    tz = "America/Sao_Paulo"
    start, end = pd.Timestamp("2017-10-01", tz=tz), pd.Timestamp("2018-01-01", tz=tz)
    local = lambda column: pd.to_datetime(raw[column], format="ISO8601").dt.tz_localize(tz)
    answered = pd.to_datetime(raw["review_answer_timestamp"], format="ISO8601", utc=True)
    sales = outcome.data["sales"].frame
    assert len(outcome.data["surveys"].frame) == int(((answered >= start) & (answered < end)).sum())
    assert len(outcome.data["customers"].frame) == len(raw)
    placed = local("order_purchase_timestamp")
    assert (sales["event_type"] == "order_placed").sum() == int(((placed >= start) & (placed < end)).sum())
    delivered, promised = local("order_delivered_customer_date"), local("order_estimated_delivery_date")
    late = (delivered.dt.floor("D") > promised.dt.floor("D")) & (delivered >= start) & (delivered < end)
    assert (sales["event_type"] == "delivery_late").sum() == int(late.sum()) > 0


def test_gate_stops_2017q1_as_too_thin(config):
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import read_and_validate

    outcome = read_and_validate(config, Period.parse("2017Q1"), raise_on_failure=False)
    failed = {(c.source, c.kind) for c in outcome.result.failures}
    assert failed == {("surveys", "row_count"), ("sales", "row_count")}


def test_build_2018q1_gives_valid_maps_with_late_delivery(built_2018q1, config):
    from cjm_tasks.models import check_map

    maps, outcome = built_2018q1
    assert outcome.result.success, outcome.result.summary()
    assert set(maps) == {p.id for p in config.personas.personas} | {"all"}
    for doc in maps.values():
        check_map(doc)
        assert doc["persona"]["customers"] > 0
    stages = {s["id"]: s for s in maps["all"]["stages"]}
    by_stage = {sid: {b["id"]: b for b in s["barriers"]} for sid, s in stages.items()}
    late = by_stage["experience"]["late_delivery"]
    assert late["kind"] == "catalog" and late["evidence"]["mentions"] >= 100 and late["quotes"]
    rate = stages["delivery"]["metrics"]["rates"]["late_delivery_rate"]
    assert rate["value"] > 0.10 and "late_deliveries" in by_stage["delivery"]
    # Split baskets are where parts of an order go missing.
    split = {b["id"] for s in maps["split_basket"]["stages"] for b in s["barriers"]}
    assert "partial_delivery" in split


def test_detector_scores_against_human_labels_on_the_held_out_half(config):
    """The catalog's keywords and examples were written reading the tune half of the frozen split
    (configs/examples/olist/split.csv) only; this scores the test half. The floors sit under the
    figures measured at the one final run (docs/olist.md): late delivery misses the issue's
    0.8/0.75, partial delivery meets it."""
    from cjm_tasks.maps.evaluation import score_detector
    from cjm_tasks.maps.text_features import catalog_matcher, similarity_eligible
    from cjm_tasks.maps.text import normalize, sentiment

    rows = pd.read_csv(_LOCATION, usecols=["id", "review_comment_message", "review_score", "most_voted_subclass"])
    split = pd.read_csv(REPO / "configs" / "examples" / "olist" / "split.csv")
    rows = rows[rows["id"].isin(split.loc[split["half"] == "test", "id"])]
    # The rows score_detector keeps (a comment and a label), so the eligibility below lines up.
    rows = rows[rows["review_comment_message"].fillna("").str.strip().ne("") & rows["most_voted_subclass"].notna()].reset_index(drop=True)
    # Read as the pipeline reads them: texts that are not praise (score above the middle) are
    # also read for similarity.
    norm = normalize(rows["review_comment_message"])
    frame = pd.DataFrame({"score01": (rows["review_score"] - 1) / 4,
                          "sentiment": sentiment(norm, config.barriers.sentiment.model_dump(), normalized=True)})
    eligible = similarity_eligible(frame, config)

    class Read:  # score_detector's matcher, called the way prepared.prepare calls it
        def match(self, texts):
            return catalog_matcher(config).match(normalize(texts), normalized=True, eligible=eligible)

    scores = score_detector(rows["review_comment_message"], rows["most_voted_subclass"], Read(), CLASSES)
    print("\n" + scores.round(3).to_string())
    assert list(scores.index) == list(CLASSES)
    assert scores.loc["entrega_parcial", "precision"] >= 0.8 and scores.loc["entrega_parcial", "recall"] >= 0.8, scores
    assert scores.loc["atrasado", "precision"] >= 0.6 and scores.loc["atrasado", "recall"] >= 0.65, scores
    for label in ("baixa_qualidade", "diferente_do_anunciado"):
        assert scores.loc[label, "precision"] >= 0.45 and scores.loc[label, "recall"] >= 0.4, scores.loc[label]


def test_the_late_delivery_rise_of_2017q4_is_flagged(config):
    # Late deliveries doubled between 2017Q3 and 2017Q4 (the Black Friday backlog): 31 of 877
    # delivered orders, then 81 of 1,004. The rate is under the metric rule's 10% threshold, so it
    # is flagged as a metric change; the complaints about it rose too (53 -> 92 customers of
    # ~1,100-1,260): raw p 0.02 and an interval above zero, but q 0.09 after the refresh-wide
    # false-discovery adjustment, so not flagged on its own.
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import build_period, open_version_store, store_maps

    for period in ("2017Q3", "2017Q4"):
        maps, _ = build_period(config, Period.parse(period))
        store_maps(config, maps)
    store = open_version_store(config)
    diff = store.read_diff(store.resolve("all", "2017Q4"))
    rate = next(m for m in diff["metrics"] if m["metric"] == "late_delivery_rate")
    assert rate["flagged"] and rate["change"] == "worse" and rate["from"] < 0.05 and rate["to"] > 0.075
    assert "late delivery rate at Delivery" in diff["summary"]
    low_csat = next(b for b in diff["barriers"] if b["id"] == "low_csat.experience")
    assert "csat 3.80 → 3.39" in diff["summary"] and low_csat["status"] == "new"  # a mean, not a share
    complaints = next(b for b in diff["barriers"] if b["id"] == "late_delivery")
    assert complaints["direction"] == "up" and complaints["effect"]["low"] > 0
