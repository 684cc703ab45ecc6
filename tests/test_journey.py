"""Journey maps from small explicit tables: metrics, barriers, personas, schema, single read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from cjm_tasks import jsonio
from cjm_tasks.config import load_config
from cjm_tasks.maps.journey import build_maps, emotion
from cjm_tasks.maps.prepared import Inputs
from cjm_tasks.models import MapSchemaError, check_map
from cjm_tasks.periods import Period
from tests.conftest import write_config, write_small_inputs

Q3 = Period.parse("2025Q3")
T0 = pd.Timestamp("2025-07-01", tz="UTC")


def _sales(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "event_type", "channel", "amount"])
    config = load_config()
    frame.insert(0, "event_id", [f"E{i}" for i in range(len(frame))])
    frame["occurred_at"] = [T0 + pd.Timedelta(hours=i) for i in range(len(frame))]
    frame["stage"] = frame["event_type"].map(config.event_stage)
    frame["order_id"] = None
    return frame


@pytest.fixture
def inputs() -> Inputs:
    # B1, B2: business; Y1..Y3: young consumers. Y3 never gets past awareness.
    sales = _sales([
        ("B1", "site_visit", "web", None), ("B1", "product_view", "web", None), ("B1", "checkout_started", "web", None),
        ("B1", "order_placed", "web", 900.0), ("B1", "order_cancelled", "phone", None),
        ("B2", "site_visit", "web", None), ("B2", "product_view", "web", None), ("B2", "checkout_started", "web", None),
        ("B2", "order_placed", "web", 700.0), ("B2", "order_delivered", "web", None), ("B2", "product_registered", "web", None),
        ("Y1", "site_visit", "app", None), ("Y1", "product_view", "app", None), ("Y1", "checkout_started", "app", None),
        ("Y1", "order_placed", "app", 30.0), ("Y1", "order_delivered", "app", None), ("Y1", "delivery_late", "app", None),
        ("Y2", "site_visit", "app", None), ("Y2", "product_view", "app", None),
        ("Y3", "site_visit", "social", None),
    ])
    customers = pd.DataFrame({"customer_id": ["B1", "B2", "Y1", "Y2", "Y3"], "segment": ["business"] * 2 + ["consumer"] * 3,
                              "age": [40, 50, 22, 25, 28]})
    surveys = pd.DataFrame({
        "response_id": [f"S{i}" for i in range(6)],
        "customer_id": ["B1", "B2", "Y1", "Y2", None, "Y1"],
        "answered_at": [T0 + pd.Timedelta(days=i) for i in range(6)],
        "question": ["q_purchase_csat"] * 4 + ["q_purchase_csat", "q_loyalty_nps"],
        "stage": ["purchase"] * 5 + ["loyalty"],
        "metric": ["csat"] * 5 + ["nps"],
        "score": [1.0, 2.0, 5.0, 4.0, 3.0, 10.0],
        "comment": ["Courier arrived late", None, "Great", "", "anonymous survey", "would recommend"],
        "channel": ["web"] * 6,
    })
    reviews = pd.DataFrame({
        "review_id": ["R1", "R2", "R3"],
        "customer_id": ["B1", None, "Y2"],
        "published_at": [T0 + pd.Timedelta(days=3)] * 3,
        "rating": [1.0, 2.0, 5.0],
        "text": ["<script>alert('x')</script> arrived late", "cash only at the pickup point", "love the app"],
        "source": ["site", "marketplace", "app_store"],
        "language": ["en", "en", "en"],
    })
    return Inputs(surveys=surveys, reviews=reviews, sales=sales, customers=customers)


@pytest.fixture
def maps(inputs):
    return build_maps(inputs, load_config(), Q3, {"inputs": {}, "config_sha256": "0" * 64, "code_version": "test"})


def _stage(doc, stage_id):
    return next(s for s in doc["stages"] if s["id"] == stage_id)


def test_every_persona_and_all_get_a_schema_valid_map(maps):
    assert list(maps) == ["business_buyers", "young_urban", "families", "seniors", "all"]
    for doc in maps.values():
        check_map(json.loads(jsonio.dumps(doc)))
    assert maps["business_buyers"]["persona"]["customers"] == 2
    assert maps["young_urban"]["persona"]["customers"] == 3
    assert maps["families"]["persona"]["customers"] == 0
    assert maps["all"]["persona"]["customers"] == 5


def test_reach_and_conversion_are_customer_level(maps):
    young = maps["young_urban"]
    aware, evaluation, purchase = (_stage(young, s)["metrics"] for s in ("awareness", "evaluation", "purchase"))
    assert aware["customers"] == 3 and aware["reached_share"] == 1.0
    assert aware["conversion_to_next"] == pytest.approx(2 / 3, abs=1e-3)  # Y3 never evaluated
    assert evaluation["conversion_to_next"] == 0.5  # Y1 bought, Y2 did not
    assert purchase["customers"] == 1 and purchase["reached_share"] == pytest.approx(1 / 3, abs=1e-3)


def test_touchpoints_actions_and_rates(maps):
    purchase = _stage(maps["business_buyers"], "purchase")
    assert purchase["touchpoints"] == [{"channel": "web", "events": 5, "share": round(5 / 6, 4)}, {"channel": "phone", "events": 1, "share": round(1 / 6, 4)}]
    assert purchase["actions"][0] == {"event_type": "checkout_started", "events": 2, "customers": 2}
    rate = purchase["metrics"]["rates"]["cancellation_rate"]
    assert (rate["value"], rate["numerator"], rate["denominator"]) == (0.5, 1, 2)
    assert rate["interval"][0] < 0.5 < rate["interval"][1]
    # 50% cancellations, but over 2 orders: under the rule's min_samples (40), so no barrier yet.
    assert [b for b in purchase["barriers"] if b["id"] == "high_cancellation"] == []


def test_metric_rule_fires_over_threshold_with_enough_samples(inputs):
    config = load_config()
    rules = [r.model_copy(update={"min_samples": 2}) if r.id == "high_cancellation" else r for r in config.barriers.metric_rules]
    config = config.model_copy(update={"barriers": config.barriers.model_copy(update={"metric_rules": rules})})
    purchase = _stage(build_maps(inputs, config, Q3)["business_buyers"], "purchase")
    barrier = next(b for b in purchase["barriers"] if b["id"] == "high_cancellation")
    assert barrier["kind"] == "metric" and barrier["evidence"]["value"] == 0.5 and barrier["evidence"]["denominator"] == 2
    assert barrier["evidence"]["threshold"] == 0.12 and barrier["evidence"]["op"] == "gt"
    # rate 0.5, impact 0.4 + 0.6 * min(1, (0.5 - 0.12) / 0.12) = 1.0: 100 * 1.0 * 0.5 / (0.5 + 0.1)
    assert barrier["severity"] == round(100 * 0.5 / 0.6)


def test_scores_nps_confidence_intervals_and_emotion(maps):
    everyone = maps["all"]
    purchase = _stage(everyone, "purchase")["metrics"]
    assert purchase["csat"] == 3.0 and purchase["samples"]["csat"] == 5  # the anonymous answer counts in "all"
    lo, hi = purchase["intervals"]["csat"]
    assert lo < 3.0 < hi
    loyalty = _stage(everyone, "loyalty")["metrics"]
    assert loyalty["nps"] == 100.0 and loyalty["samples"]["nps"] == 1
    assert -1 <= purchase["emotion"] <= 1
    assert _stage(maps["business_buyers"], "purchase")["metrics"]["csat"] == 1.5


def test_emotion_formula_weights_by_sample_size():
    assert emotion([(1.0, 10), (-1.0, 10)]) == 0.0
    assert emotion([(1.0, 90), (-1.0, 10)]) == round((0.9 - 0.5) / (0.9 + 0.5), 3)
    assert emotion([(None, 5), (0.5, 0)]) is None


def test_reviews_without_stage_get_one_from_what_they_mention(inputs):
    config = load_config()
    maps = build_maps(inputs, config, Q3)
    everyone = maps["all"]
    purchase_texts = _stage(everyone, "purchase")["metrics"]["samples"]["texts"]
    experience_texts = _stage(everyone, "experience")["metrics"]["samples"]["texts"]
    # Three survey comments are about purchase; reviews R1 (late) and R2 (cash only) go there too,
    # R3 mentions nothing and goes to experience.
    assert purchase_texts == 3 + 2 and experience_texts == 1


def test_rows_without_customer_feed_only_all(maps):
    business = maps["business_buyers"]
    assert business["summary"]["texts"] == 2  # B1's survey comment and review
    assert maps["all"]["summary"]["texts"] == 7


def test_catalog_barrier_with_quotes_and_thresholds(inputs):
    config = load_config()
    detection = config.barriers.detection.model_copy(update={"min_mentions": 1, "min_share": 0.1, "min_customers": 5})
    config = config.model_copy(update={"barriers": config.barriers.model_copy(update={"detection": detection})})
    doc = build_maps(inputs, config, Q3)["all"]
    late = next(b for b in _stage(doc, "purchase")["barriers"] if b["id"] == "late_delivery")
    # B1 wrote both texts: one customer of the five active ones plus the anonymous review's writer
    # (a text without a customer id counts as one customer of its own).
    assert late["kind"] == "catalog" and late["evidence"]["mentions"] == 2 and late["evidence"]["customers"] == 1
    assert late["evidence"]["denominator"] == 5 + 2 and late["evidence"]["unit"] == "customers"
    late_keywords = {k for ks in next(b for b in config.barriers.catalog if b.id == "late_delivery").keywords.values() for k in ks}
    assert sum(late["evidence"]["keywords"].values()) == 2 and set(late["evidence"]["keywords"]) <= late_keywords
    quote = late["quotes"][0]
    assert len(late["quotes"]) == 2 and quote["text"].startswith("<script>")  # kept verbatim; escaped when rendered
    assert quote["text"][quote["match"][0]:quote["match"][1]] == "arrived late" and quote["via"] == "keyword"
    assert late["recommendation"]
    assert {"barrier": "late_delivery", "title": late["title"], "action": late["recommendation"], "priority": late["severity"]} in _stage(doc, "purchase")["opportunities"]
    cash = [b for s in doc["stages"] for b in s["barriers"] if b["id"] == "cash_only_payment"]
    # The anonymous review is a customer of its own: two texts of one customer weigh as much as it.
    assert [(b["evidence"]["customers"], b["evidence"]["mentions"]) for b in cash] == [(1, 1)]
    assert doc["measures"]["catalog"]["rude_staff"] == {**doc["measures"]["catalog"]["rude_staff"], "customers": 0, "active": False}
    # With the default limit of 30 customers the same data is too few to tell: nothing is listed.
    small = build_maps(inputs, load_config(), Q3)["all"]
    assert small["measures"]["too_few"] and all(s["too_few"] and not any(b["kind"] == "catalog" for b in s["barriers"]) for s in small["stages"])


def test_schema_rejects_a_broken_map(maps):
    doc = json.loads(jsonio.dumps(maps["all"]))
    doc["stages"][0]["barriers"].append({"id": "x", "title": "x", "kind": "rumour", "severity": 120, "evidence": {}, "quotes": [], "recommendation": None})
    with pytest.raises(MapSchemaError, match=r"stages/0/barriers/0/kind"):
        check_map(doc)


def test_building_all_personas_reads_each_input_file_a_fixed_number_of_times(tmp_path: Path):
    from cjm_tasks.run.pipeline import build_period

    data = write_small_inputs(tmp_path / "data")
    config = load_config(write_config(tmp_path / "cfg", data))
    opened: list[str] = []
    listening = [True]  # an audit hook cannot be removed: switch it off after the build

    def audit(event, args):
        if listening[0] and event == "open" and isinstance(args[0], str) and args[0].startswith(str(data)):
            opened.append(args[0])

    sys.addaudithook(audit)
    try:
        maps, _ = build_period(config, Q3)
    finally:
        listening[0] = False
    files = sorted(str(p) for p in data.rglob("*") if p.is_file())
    assert sorted(set(opened)) == files
    # Streamed, a file is opened for its header (a JSON Lines file twice more: the keys of its
    # first lines, and their length and nesting checked before any parser reads them), for its
    # checksum (hashed while it is parsed) and for its rows: never once more per persona (there
    # are five maps here).
    per_file = {f: opened.count(f) for f in files}
    assert max(per_file.values()) <= 5, f"some inputs were opened more than header, checks, checksum and rows: {per_file}"
    assert len(maps) == 5


def test_per_persona_maps_from_saved_prepared_tables_equal_the_one_pass_build(tmp_path: Path):
    """What each Airflow build_map task does (read only its persona's rows) gives the same map."""
    from cjm_tasks.maps.journey import maps_from
    from cjm_tasks.maps.prepared import prepare_inputs
    from cjm_tasks.run.prepared_io import load_prepared, save_prepared
    from cjm_tasks.ingest.sources import read_sources
    from cjm_tasks.storage import LocalStorage

    data = write_small_inputs(tmp_path / "data")
    config = load_config(write_config(tmp_path / "cfg", data))
    sources = read_sources(config, Q3)
    inputs = Inputs(**{name: src.frame for name, src in sources.items()})
    full = build_maps(inputs, config, Q3)
    workspace = LocalStorage(tmp_path / "ws")
    prepared = prepare_inputs(inputs, config)
    save_prepared(prepared, prepared.personas(config), workspace, "prepared")
    for persona in prepared.personas(config):
        one = load_prepared(workspace, "prepared", persona)
        assert set(one.aggregates["reach"]["persona"]) <= {persona}
        assert len(one.texts) == len(prepared.texts_of(persona))
        assert jsonio.dumps(maps_from(one, config, Q3, None, [persona])[persona]) == jsonio.dumps(full[persona]), persona


def test_one_pass_event_counts_equal_each_persona_joined_plus_every_row_for_all():
    # With membership "first", the sales rows are grouped once (a customer's persona, or none)
    # and ``all`` is the sum; the reference joins each persona and counts every row again.
    import numpy as np

    from cjm_tasks.engine import open_engine
    from cjm_tasks.engine.journey import ALL_NO, _events
    from cjm_tasks.engine.personas import MEMBERS

    rng = np.random.default_rng(8)
    n = 4000
    sales = pd.DataFrame({"customer_id": rng.choice(np.array([f"c{i}" for i in range(60)] + [None], dtype=object), n),
                          "stage": rng.choice(np.array(["awareness", "purchase", None], dtype=object), n),
                          "channel": rng.choice(np.array(["web", "app", None], dtype=object), n),
                          "event_type": rng.choice(np.array(["site_visit", "order_placed", None], dtype=object), n)})
    members = pd.DataFrame({"customer_id": [f"c{i}" for i in range(45)],  # c45..c59: in no persona
                            "persona_no": np.arange(45, dtype=np.int16) % 3})
    config = load_config()
    keys = ["stage", "channel", "event_type"]
    listed = ", ".join(f"t.{k}" for k in keys)
    with open_engine(config, kind="duckdb") as engine:
        engine.con.register("sales", sales)
        engine.con.register(MEMBERS, members)
        got = _events(engine, config, listed, keys)
        expected = engine.query(f"SELECT m.persona_no, {listed}, count(*) AS events FROM sales t JOIN {MEMBERS} m ON m.customer_id = "
                                f"t.customer_id GROUP BY m.persona_no, {listed} UNION ALL SELECT {ALL_NO} AS persona_no, {listed}, "
                                f"count(*) AS events FROM sales t GROUP BY {listed}").to_pandas()

    def rows(frame):
        return sorted((int(r.persona_no), *("" if pd.isna(getattr(r, k)) else getattr(r, k) for k in keys), int(r.events))
                      for r in frame.itertuples())

    assert rows(got) == rows(expected)
    assert {int(p) for p in got["persona_no"]} == {-1, 0, 1, 2}
    assert int(got.loc[got["persona_no"] == -1, "events"].sum()) == n


def test_the_all_map_built_beside_the_others_equals_every_map_built_one_at_a_time(sample_config, sample_maps, monkeypatch):
    # Up to THREADED_ALL_TEXTS texts the `all` map is built on a thread beside the personas'
    # maps (sample_maps, through the real pipeline); beyond, one map at a time. Same documents.
    from cjm_tasks.maps import journey
    from cjm_tasks.run.pipeline import build_period

    period = Period.parse("2025Q2")
    monkeypatch.setattr(journey, "THREADED_ALL_TEXTS", 0)
    one_at_a_time = build_period(sample_config, period)[0]
    threaded = sample_maps[str(period)]
    assert len(threaded) > 2 and list(one_at_a_time) == list(threaded)
    for persona, doc in threaded.items():
        assert jsonio.dumps(one_at_a_time[persona]) == jsonio.dumps(doc), persona
