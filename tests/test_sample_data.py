"""Tests of the deterministic sample-data generator, on real files in a temporary folder."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from cjm_tasks.config import load_config
from cjm_tasks.maps.text_features import catalog_matcher
from cjm_tasks.periods import Period
from cjm_demo.sample_data import (
    SampleDataSummary,
    generate_sample_data,
    sample_texts,
)

CONFIG = Path(__file__).resolve().parents[1] / "configs"
STAGES = yaml.safe_load((CONFIG / "stages.yaml").read_text(encoding="utf-8"))["stages"]
PERSONAS = yaml.safe_load((CONFIG / "personas.yaml").read_text(encoding="utf-8"))
BARRIERS = yaml.safe_load((CONFIG / "barriers.yaml").read_text(encoding="utf-8"))
EVENT_STAGE = {e: s["id"] for s in STAGES for e in s["events"]}
QUESTION_STAGE = {q: s["id"] for s in STAGES for q in s.get("questions", {})}
QUESTION_METRIC = {q: m for s in STAGES for q, m in s.get("questions", {}).items()}
SCALES = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}
RULES = {r["id"]: r for r in BARRIERS["metric_rules"]}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SALES_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("customer_id", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("event_type", pa.string()), ("channel", pa.string()), ("amount", pa.float64()), ("order_id", pa.string()),
])
ORDER_EVENTS = {"order_placed", "repeat_order"}


# --- the keyword rule of barriers.yaml: the catalog's keywords (word forms, gaps, negation) ------
# The sample data is written from the catalog's vocabulary, so its texts are an integration check
# of the keyword matcher (the independent evaluation is benchmarks/eval_detection.py).
KEYWORD_MATCHER = catalog_matcher(load_config(CONFIG / "cjm.yaml"), similarity=False)


_MENTIONED: dict[str, frozenset[str]] = {}
_FOUND: dict[str, str] = {}  # the words that matched, first match of each text


def read_all(texts) -> None:
    """Match every text not matched yet in one call (the matcher reads a batch in one pass;
    one call per text would rebuild its word forms each time)."""
    todo = pd.Series(sorted({t for t in texts if t not in _MENTIONED}), dtype="object")
    if len(todo):
        matches = KEYWORD_MATCHER.match(todo)
        hits = matches.groupby("row")["label"].agg(frozenset)
        found = matches.drop_duplicates("row").set_index("row")["found"]
        for i, text in enumerate(todo):
            _MENTIONED[text] = hits.get(i, frozenset())
            _FOUND[text] = found.get(i, "")


def mentioned(text: str) -> frozenset[str]:
    if text not in _MENTIONED:
        read_all([text])
    return _MENTIONED[text]


# --- persona rules of personas.yaml, evaluated as data ------------------------------------------
OPS = {"eq": lambda s, v: s == v, "ne": lambda s, v: s != v, "lt": lambda s, v: s < v,
       "le": lambda s, v: s <= v, "gt": lambda s, v: s > v, "ge": lambda s, v: s >= v,
       "between": lambda s, v: s.between(v[0], v[1]), "in": lambda s, v: s.isin(v)}


def rule_matches(rule: dict, frame: pd.DataFrame) -> pd.Series:
    if "all" in rule or "any" in rule:
        parts = [rule_matches(r, frame) for r in rule.get("all", rule.get("any"))]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if "all" in rule else combined | part
        return combined
    return OPS[rule["op"]](frame[rule["field"]], rule["value"]).fillna(False).astype(bool)


def assign_personas(customers: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    orders = sales[sales.event_type.isin(ORDER_EVENTS)].groupby("customer_id").amount.mean()
    frame = customers.set_index("customer_id").assign(avg_order_value=orders).reset_index()
    persona = pd.Series(None, index=frame.index, dtype=object)
    for spec in PERSONAS["personas"]:
        persona = persona.where(persona.notna() | ~rule_matches(spec["rule"], frame), spec["id"])
    return pd.Series(persona.to_numpy(), index=frame.customer_id)


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleDataSummary:
    return generate_sample_data(tmp_path_factory.mktemp("sample") / "data")


@pytest.fixture(scope="session")
def data(sample: SampleDataSummary) -> dict:
    """Every file of the sample, read once, with each row's persona from the configured rules."""
    out = sample.out
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str}, keep_default_na=False)
    periods = {}
    for period in sample.periods:
        sales = pq.read_table(out / period / "sales").to_pandas()
        surveys = pd.read_csv(out / period / "surveys.csv", keep_default_na=False)
        lines = (out / period / "reviews.jsonl").read_text(encoding="utf-8").splitlines()
        reviews = pd.DataFrame([json.loads(line) for line in lines])
        persona = assign_personas(customers[customers.customer_id.isin(sales.customer_id)], sales)
        for frame in (sales, surveys, reviews):
            frame["persona"] = frame.customer_id.map(persona)
        surveys["stage"] = surveys.question.map(QUESTION_STAGE)
        periods[period] = {"sales": sales, "surveys": surveys, "reviews": reviews, "lines": lines,
                           "persona": persona}
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    return {"customers": customers, "periods": periods, "truth": truth}


def digest(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


# --- files and columns --------------------------------------------------------------------------
def test_summary_lists_what_was_written(sample: SampleDataSummary, data: dict) -> None:
    assert sample.periods == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert all(f.is_file() for f in sample.files)
    assert set(sample.files) == {f for f in sample.out.rglob("*") if f.is_file()}
    assert sample.customers == len(data["customers"])
    periods = data["periods"].values()
    assert sample.sales_events == sum(len(p["sales"]) for p in periods)
    assert sample.survey_answers == sum(len(p["surveys"]) for p in periods)
    assert sample.reviews == sum(len(p["reviews"]) for p in periods)
    # Scale 1 is ~1500 active customers and ~10 events each per quarter.
    assert 40_000 < sample.sales_events < 80_000


def test_customers_file(data: dict) -> None:
    customers = data["customers"]
    assert list(customers.columns) == ["customer_id", "segment", "age", "region", "signup_channel", "signup_date"]
    assert customers.customer_id.str.fullmatch(r"C\d{7}").all()
    assert customers.customer_id.is_unique
    assert set(customers.segment) == {"consumer", "business"}
    assert pd.api.types.is_integer_dtype(customers.age)
    assert set(customers.region) <= {"north", "south", "east", "west", "central"}
    assert set(customers.signup_channel) <= {"web", "app", "store", "phone"}
    assert pd.to_datetime(customers.signup_date, format="%Y-%m-%d").max() < pd.Timestamp("2026-01-01")


def test_surveys_files(data: dict) -> None:
    for period, frames in data["periods"].items():
        surveys = frames["surveys"]
        start, end = Period.parse(period).start(), Period.parse(period).end()
        assert list(surveys.columns[:7]) == ["response_id", "customer_id", "answered_at", "question", "score",
                                             "comment", "channel"]
        assert set(surveys.question) == set(QUESTION_STAGE)
        assert surveys.answered_at.str.match(ISO_UTC).all()
        moments = pd.to_datetime(surveys.answered_at, utc=True)
        assert moments.min() >= start and moments.max() < end
        assert pd.api.types.is_integer_dtype(surveys.score)
        for question, group in surveys.groupby("question"):
            low, high = SCALES[QUESTION_METRIC[question]]
            assert group.score.between(low, high).all(), question
        assert 0.4 < (surveys.comment == "").mean() < 0.6
        assert set(surveys.channel) <= {"email", "sms", "app", "web", "phone"}
        # Customers answer about stages they reached in the period.
        reached = set(zip(frames["sales"].customer_id, frames["sales"].event_type.map(EVENT_STAGE), strict=True))
        assert all(pair in reached for pair in zip(surveys.customer_id, surveys.stage, strict=True))
        assert 1.2 < len(surveys) / 1500 < 1.8  # ~1.5 answers per active customer


def test_reviews_files(data: dict) -> None:
    for period, frames in data["periods"].items():
        start, end = Period.parse(period).start(), Period.parse(period).end()
        rows = [json.loads(line) for line in frames["lines"]]
        assert all(list(r) == ["review_id", "customer_id", "published_at", "rating", "text", "source", "language"]
                   for r in rows)
        assert all(isinstance(r["rating"], int) and 1 <= r["rating"] <= 5 for r in rows)
        assert all(r["customer_id"] is None or re.fullmatch(r"C\d{7}", r["customer_id"]) for r in rows)
        assert all(isinstance(r["text"], str) and r["text"] for r in rows)
        assert {r["source"] for r in rows} <= {"site", "app_store", "marketplace", "maps"}
        assert {r["language"] for r in rows} == {"en", "ru"}
        assert all(ISO_UTC.match(r["published_at"]) for r in rows)
        moments = pd.to_datetime(pd.Series([r["published_at"] for r in rows]), utc=True)
        assert moments.min() >= start and moments.max() < end
        anonymous = sum(r["customer_id"] is None for r in rows) / len(rows)
        assert 0.08 < anonymous < 0.25
        assert 0.3 < sum(r["language"] == "ru" for r in rows) / len(rows) < 0.5
        assert 0.3 < len(rows) / 1500 < 0.5


def test_sales_parts(sample: SampleDataSummary, data: dict) -> None:
    for period, frames in data["periods"].items():
        parts = sorted((sample.out / period / "sales").glob("*.parquet"))
        assert [p.name for p in parts] == ["part-00000.parquet"]
        assert pq.read_schema(parts[0]).remove_metadata() == SALES_SCHEMA
        sales = frames["sales"]
        start, end = Period.parse(period).start(), Period.parse(period).end()
        assert sales.occurred_at.min() >= start and sales.occurred_at.max() < end
        assert set(sales.event_type) == set(EVENT_STAGE)
        assert set(sales.channel) <= {"web", "app", "store", "phone", "email", "sms", "social"}
        with_amount = sales.event_type.isin(ORDER_EVENTS)
        assert sales.amount[with_amount].notna().all() and sales.amount[~with_amount].isna().all()
        assert (sales.amount[with_amount] > 0).all()
        assert sales.order_id[with_amount].notna().all()
        assert sales.order_id[sales.event_type.isin(["site_visit", "product_view", "email_open"])].isna().all()


def test_journeys_are_ordered(data: dict) -> None:
    sales = data["periods"]["2025Q1"]["sales"]
    first = sales.assign(stage=sales.event_type.map(EVENT_STAGE)).groupby(["customer_id", "stage"]) \
        .occurred_at.min().unstack()
    for earlier, later in (("awareness", "evaluation"), ("evaluation", "purchase"), ("purchase", "experience"),
                           ("experience", "loyalty")):
        both = first[earlier].notna() & first[later].notna()
        assert both.sum() > 100 and (first[earlier][both] < first[later][both]).all(), (earlier, later)
    steps = ["checkout_started", "order_placed", "order_delivered", "product_registered"]
    orders = sales[sales.event_type.isin(steps)].pivot_table(
        index="order_id", columns="event_type", values="occurred_at", aggfunc="min").dropna()
    assert len(orders) > 100
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert (orders[earlier] < orders[later]).all(), (earlier, later)


def test_ids_are_unique_across_periods(data: dict) -> None:
    frames = data["periods"].values()
    for column, key in (("event_id", "sales"), ("response_id", "surveys"), ("review_id", "reviews")):
        ids = pd.concat([f[key][column] for f in frames])
        assert ids.notna().all() and ids.is_unique, column
    order_sets = [set(f["sales"].order_id.dropna()) for f in frames]
    assert sum(len(s) for s in order_sets) == len(set().union(*order_sets))


def test_persona_rules_give_the_planned_personas(data: dict) -> None:
    truth = data["truth"]
    for period, frames in data["periods"].items():
        persona = frames["persona"]
        assert persona.notna().all()
        assert persona.value_counts().to_dict() == truth["customers_per_period"][period]
        sales = frames["sales"]
        amounts = sales[sales.event_type.isin(ORDER_EVENTS)]
        business = amounts.persona == "business_buyers"
        assert (amounts.amount[~business] < 450).all()
        assert amounts.amount[business].between(100, 3000).all()
    customers = data["customers"].set_index("customer_id")
    persona = pd.concat([f["persona"] for f in data["periods"].values()])
    persona = persona[~persona.index.duplicated()]
    ages = customers.age.reindex(persona.index)
    assert (ages[persona == "young_urban"] < 30).all()
    assert ages[persona == "families"].between(30, 54).all()
    assert (ages[persona == "seniors"] >= 55).all()
    assert (customers.segment.reindex(persona.index)[persona == "business_buyers"] == "business").all()
    # About 35 % of a quarter's customers were active in an earlier quarter.
    seen: set[str] = set()
    for index, frames in enumerate(data["periods"].values()):
        active = set(frames["sales"].customer_id)
        if index:
            assert 0.3 < len(active & seen) / len(active) < 0.4
        seen |= active


# --- ground truth -------------------------------------------------------------------------------
def test_ground_truth_structure(data: dict) -> None:
    truth = data["truth"]
    periods, personas = truth["periods"], truth["personas"]
    assert truth["seed"] == 7 and truth["scale"] == 1.0
    assert personas == [p["id"] for p in PERSONAS["personas"]]
    metric_ids = {r["id"] for r in BARRIERS["metric_rules"]}
    catalog = {b["id"]: b["stage"] for b in BARRIERS["catalog"]}
    for period in periods:
        assert set(truth["active"][period]) == set(personas)
        assert set(truth["customers_per_period"][period]) == set(personas)
        for persona in personas:
            active = truth["active"][period][persona]
            assert 2 <= len(active) <= 4
            for barrier in active:
                if barrier["kind"] == "catalog":
                    assert barrier["stage"] == catalog[barrier["id"]]
                    assert 0.08 <= barrier["intensity"] <= 0.5
                else:
                    assert barrier["id"].split(".")[0] in metric_ids
                    assert barrier["stage"] in QUESTION_STAGE.values()
    consecutive = set(zip(periods, periods[1:], strict=False))
    assert truth["noise_only"] == [["2025Q2", "2025Q3"]]
    for change in truth["changes"]:
        assert (change["from"], change["to"]) in consecutive
        assert change["persona"] in personas
    assert not [c for c in truth["changes"] if [c["from"], c["to"]] in truth["noise_only"]]
    assert truth["active"]["2025Q2"] == truth["active"]["2025Q3"]
    first = Counter(c["change"] for c in truth["changes"] if c["from"] == "2025Q1")
    last = Counter(c["change"] for c in truth["changes"] if c["from"] == "2025Q3")
    assert first["new"] and first["worsened"] and sum(first.values()) >= 3
    assert last["improved"] and last["resolved"] and sum(last.values()) >= 3


def test_changes_follow_the_active_sets(data: dict) -> None:
    truth = data["truth"]

    def strength(barrier: dict) -> float:
        if barrier["kind"] == "catalog":
            return barrier["intensity"]
        rule = RULES[barrier["id"].split(".")[0]]
        if rule["op"] == "gt":
            return barrier["value"]
        # Lower is worse: conversion by ratio, CSAT by the distance below the threshold.
        return rule["threshold"] / barrier["value"] if rule["metric"] != "csat" else rule["threshold"] - barrier["value"]

    for change in truth["changes"]:
        old = {b["id"]: b for b in truth["active"][change["from"]][change["persona"]]}
        new = {b["id"]: b for b in truth["active"][change["to"]][change["persona"]]}
        barrier = change["barrier"]
        if change["change"] == "new":
            assert barrier in new and barrier not in old
        elif change["change"] == "resolved":
            assert barrier in old and barrier not in new
        elif change["change"] == "worsened":
            assert strength(new[barrier]) >= 2.45 * strength(old[barrier])
        else:
            assert strength(new[barrier]) <= 0.5 * strength(old[barrier])


def test_every_seed_schedules_each_change_kind(tmp_path: Path) -> None:
    for seed in range(6):
        generate_sample_data(tmp_path / str(seed), seed=seed, scale=0.02)
        truth = json.loads((tmp_path / str(seed) / "ground_truth.json").read_text(encoding="utf-8"))
        kinds = Counter(c["change"] for c in truth["changes"])
        assert {"new", "worsened", "improved", "resolved"} <= set(kinds), seed
        assert truth["active"]["2025Q2"] == truth["active"]["2025Q3"]


def test_one_quarter_has_no_changes(tmp_path: Path) -> None:
    summary = generate_sample_data(tmp_path, quarters=1, start="2024Q4", scale=0.05)
    truth = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))
    assert summary.periods == truth["periods"] == ["2024Q4"]
    assert truth["changes"] == [] and truth["noise_only"] == []
    assert set(truth["active"]["2024Q4"]) == set(truth["personas"])


# --- planted barriers show in the data ----------------------------------------------------------
def test_texts_follow_the_keyword_rule() -> None:
    texts = sample_texts()
    read_all(t for group in texts.values() for t in group)
    assert {k.split(":", 1)[1] for k in texts if k.startswith("complaint:")} == {b["id"] for b in BARRIERS["catalog"]}
    for key, group in texts.items():
        kind, name = key.split(":", 1)
        assert len(set(group)) >= 30, key  # varied: openings x sentences x closings
        for text in group:
            assert mentioned(text) == ({name} if kind == "complaint" else set()), (key, text)
            assert "/" not in text
            if kind == "complaint":
                # A sentence around the keyword, never the bare keyword.
                assert len(re.findall(r"\w+", text)) - len(_FOUND[text].replace("...", " ").split()) >= 2, (key, text)


def test_planted_catalog_barriers_are_mentioned(data: dict) -> None:
    truth = data["truth"]
    read_all(t for frames in data["periods"].values() for t in [*frames["surveys"].comment, *frames["reviews"].text] if t)
    for period, frames in data["periods"].items():
        surveys, reviews = frames["surveys"], frames["reviews"]
        for persona in truth["personas"]:
            texts = pd.concat([surveys.comment[(surveys.persona == persona) & (surveys.comment != "")],
                               reviews.text[reviews.persona == persona]])
            counts = Counter(b for text in texts for b in mentioned(text))
            planted = {b["id"] for b in truth["active"][period][persona] if b["kind"] == "catalog"}
            background = max((n for b, n in counts.items() if b not in planted), default=0)
            assert background <= 3, (period, persona, counts)
            for barrier in planted:
                # ~14 mentions expected at scale 1; a small persona's quarter may fall to ~4.
                assert counts[barrier] >= 4 and counts[barrier] > 2 * background, (period, persona, barrier, counts)


def test_survey_comment_share_matches_intensity(data: dict) -> None:
    truth = data["truth"]
    read_all(t for frames in data["periods"].values() for t in frames["surveys"].comment if t)
    shares = []
    for period, frames in data["periods"].items():
        surveys = frames["surveys"]
        for persona in truth["personas"]:
            for barrier in truth["active"][period][persona]:
                if barrier["kind"] != "catalog":
                    continue
                comments = surveys.comment[(surveys.persona == persona) & (surveys.stage == barrier["stage"])
                                           & (surveys.comment != "")]
                share = np.mean([barrier["id"] in mentioned(c) for c in comments])
                p = barrier["intensity"]
                shares.append((share, p))
                # The intensity is the probability that a comment about the stage mentions it.
                assert abs(share - p) < 3.5 * np.sqrt(p * (1 - p) / len(comments)) + 0.01, (period, persona, barrier)
    measured, planned = np.array(shares).T
    assert len(shares) >= 8 and abs(measured.mean() - planned.mean()) < 0.03


def rates(sales: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """Each rate of stages.yaml and the evaluation -> purchase conversion, with its sample size."""
    counts = sales.event_type.value_counts()
    stage = sales.event_type.map(EVENT_STAGE)
    evaluated = sales[stage == "evaluation"].customer_id.nunique()
    purchased = sales[stage == "purchase"].customer_id.nunique()
    out = {"conversion_to_next": (purchased / evaluated, evaluated)}
    for spec in STAGES:
        for name, rate in spec.get("rates", {}).items():
            n = int(counts.get(rate["denominator"], 0))
            out[name] = (counts.get(rate["numerator"], 0) / n, n)
    return out


def test_metric_barriers_show_in_rates(data: dict) -> None:
    """Planted metric barriers cross their threshold, the others do not.

    Tolerances are in standard errors of the sample at hand: a quarter with a planted drop-off or
    many cancellations leaves small samples downstream, where only a large deviation counts.
    """
    truth = data["truth"]
    checked = Counter()
    for period, frames in data["periods"].items():
        sales, surveys = frames["sales"], frames["surveys"]
        for persona in truth["personas"]:
            planted = {b["id"]: b for b in truth["active"][period][persona] if b["kind"] == "metric"}
            measured = rates(sales[sales.persona == persona])
            for rule in BARRIERS["metric_rules"]:
                if rule["metric"] == "csat":
                    continue
                value, n = measured[rule["metric"]]
                threshold, sign = rule["threshold"], 1 if rule["op"] == "gt" else -1
                slack = 1.5 * np.sqrt(threshold * (1 - threshold) / n)
                where = (period, persona, rule["id"], value, n)
                if rule["id"] in planted:
                    planned = planted[rule["id"]]["value"]
                    assert sign * (value - threshold) > 0, where
                    assert abs(value - planned) < 3.5 * np.sqrt(planned * (1 - planned) / n) + 0.02, where
                    checked[rule["id"]] += 1
                else:
                    assert sign * (value - threshold) < slack, where
            csat = surveys[(surveys.persona == persona) & (surveys.question.map(QUESTION_METRIC) == "csat")]
            for stage, scores in csat.groupby("stage").score:
                barrier = planted.get(f"low_csat.{stage}")
                error = scores.std() / np.sqrt(len(scores))
                where = (period, persona, stage, scores.mean(), len(scores))
                if barrier:
                    assert scores.mean() < RULES["low_csat"]["threshold"], where
                    assert abs(scores.mean() - barrier["value"]) < 3.5 * error + 0.1, where
                    checked["low_csat"] += 1
                else:
                    assert scores.mean() > RULES["low_csat"]["threshold"] - 1.5 * error, where
    assert sum(checked.values()) >= 4


# --- determinism and chunking -------------------------------------------------------------------
def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = generate_sample_data(tmp_path / "a", seed=11, scale=0.3)
    generate_sample_data(tmp_path / "b", seed=11, scale=0.3)
    generate_sample_data(tmp_path / "c", seed=12, scale=0.3)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    assert set(a) == set(c)
    assert all(a[name] != c[name] for name in a)
    assert first.out == tmp_path / "a"


def test_chunk_size_changes_parts_not_rows(sample: SampleDataSummary, tmp_path: Path) -> None:
    small = generate_sample_data(tmp_path, chunk_customers=700)
    for period in small.periods:
        parts = sorted((tmp_path / period / "sales").glob("*.parquet"))
        assert len(parts) == 2  # 1500 customers, rounded up to blocks of 1000
        chunked = pa.concat_tables(pq.read_table(p) for p in parts)
        whole = pq.read_table(sample.out / period / "sales")
        assert chunked.equals(whole)
    expected = {k: v for k, v in digest(sample.out).items() if "/sales/" not in k}
    assert {k: v for k, v in digest(tmp_path).items() if "/sales/" not in k} == expected
    # A rerun with bigger chunks into the same folder leaves no stale parts behind.
    generate_sample_data(tmp_path)
    assert digest(tmp_path) == digest(sample.out)


def test_progress_is_reported(tmp_path: Path) -> None:
    calls: list[tuple[str, float]] = []
    generate_sample_data(tmp_path, quarters=2, scale=0.05, progress=lambda step, done: calls.append((step, done)))
    fractions = [done for _step, done in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(isinstance(step, str) and step for step, _done in calls)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"quarters": 0}, "quarters"),
    ({"quarters": 2.5}, "quarters"),
    ({"scale": 0}, "scale"),
    ({"scale": -1.0}, "scale"),
    ({"scale": float("nan")}, "scale"),
    ({"start": "2025-Q1"}, "start"),
    ({"start": "2025Q5"}, "start"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_raise(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_sample_data(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_bad_chunk_size_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_customers"):
        generate_sample_data(tmp_path, chunk_customers=0)
