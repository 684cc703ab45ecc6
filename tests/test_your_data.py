"""Your own data: the stumbles a new user met configuring exports nobody here wrote, each now a
clear message or working behaviour (issue 12), and the sources as people keep them (xlsx, SQL,
epoch and Excel timestamps, long surveys, per-source rating scales, hashed ids, attributes on
any source)."""

from __future__ import annotations

import json
import re
import subprocess
from functools import partial
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjm_tasks.config import MainFile, load_config
from cjm_tasks.errors import ConfigError
from cjm_tasks.engine import open_engine
from cjm_tasks.engine.personas import MEMBERS, assign_personas, create_customers
from cjm_tasks.maps.prepared import Inputs, register_inputs
from cjm_tasks.periods import Period
from cjm_tasks.run.pipeline import read_and_validate
from cjm_tasks.ingest.sources import read_source
from tests.conftest import cjm as run_cjm
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
Q1 = Period.parse("2025Q1")


# Refreshes of two quarters run here: a longer limit than the CLI tests'.
cjm = partial(run_cjm, timeout=600)


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _config(tmp_path: Path, sources: dict, personas: dict | None = None, stages: dict | None = None,
            expectations: dict | None = None, catalog: str = "empty", **top) -> Path:
    """A configuration with exactly ``sources`` (the bundled stages, catalog and personas unless
    given; with other stages, an empty catalog unless ``catalog`` is "keep")."""
    main = write_config(tmp_path / "cfg", tmp_path / "data", expectations=expectations, **top)
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["sources"] = sources
    if stages is not None and catalog != "keep":
        doc["files"]["barriers"] = str(_write(main.parent / "empty_catalog.yaml", "catalog: []\n"))
        doc["files"].pop("examples", None)
    main.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    if personas is not None:
        (main.parent / "personas.yaml").write_text(yaml.safe_dump(personas, sort_keys=False), encoding="utf-8")
    if stages is not None:
        (main.parent / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return main


ONE_PERSONA = {"personas": [{"id": "everyone", "name": "Everyone", "rule": {"field": "event_count", "op": "ge", "value": 0}}]}


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


# --------------------------------------------------------------------------- 1, 2, 6, 10: the docs


def _yaml_blocks(doc: Path) -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    return [yaml.safe_load(b) for b in blocks]


def test_the_walk_through_documents_each_shape_and_its_yaml_is_valid():
    """Stumbles 1, 2, 6, 10: the wide survey's melt, timestamp formats, stage placement, shares'
    denominators and optional sources are documented, and every source block in the docs loads."""
    guide = ROOT / "docs" / "your-data.md"
    text = guide.read_text(encoding="utf-8")
    for needed in ("melt:", "timestamp_format", "epoch_seconds", "excel", "attributes:", "layout: long", "text_questions",
                   "row_id: hash", "scales:", "orders:", "format: xlsx", "format: sql", "config check --period", "cjm init",
                   "optional"):
        assert needed in text, needed
    checked = 0
    for block in _yaml_blocks(guide):
        if isinstance(block, dict) and "sources" in block:
            for name, source in block["sources"].items():
                MainFile.model_validate({"sources": {name: source}})
                checked += 1
    assert checked >= 6
    barriers = (ROOT / "docs" / "barriers.md").read_text(encoding="utf-8")
    assert "without a stage" in barriers and "denominator" in barriers
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/your-data.md" in readme


# --------------------------------------------------------------------------- 2: unknown keys, timestamps


def test_an_unknown_key_lists_the_keys_that_exist_there_without_echoing_its_value(tmp_path: Path):
    main = _config(tmp_path, {"reviews": {"location": "x.csv", "format": "csv", "timestamp_fmt": "secret-value"}})
    message = _error(main)
    assert "sources.reviews.timestamp_fmt: unknown key (expected one of location, format, csv" in message
    assert "timestamp_format" in message and "secret-value" not in message


def test_a_timestamp_that_does_not_parse_names_the_format_and_the_setting(tmp_path: Path):
    data = _write(tmp_path / "data" / "r.csv", "id,at,stars,text,cust\n1,04.03.2025 02:41,4,ok,c1\n")
    main = _config(tmp_path, {"reviews": {"location": str(data), "format": "csv", "columns": {
        "id": "review_id", "at": "published_at", "stars": "rating", "cust": "customer_id"}}}, personas=ONE_PERSONA | {"personas": [
            {"id": "everyone", "name": "Everyone", "rule": {"field": "customer_id", "op": "is_null", "value": False}}]})
    issue = read_source("reviews", _with_attributes(main, ["customer_id"]), Q1).issues[0]
    assert issue.column == "published_at" and "set timestamp_format" in issue.expected and issue.samples == ["04.03.2025 02:41"]
    fixed = _edit_source(main, "reviews", timestamp_format="%d.%m.%Y %H:%M")
    frame = read_source("reviews", fixed, Q1).frame
    assert frame["published_at"].iloc[0] == pd.Timestamp("2025-03-04 02:41", tz="UTC")


def _edit_source(main: Path, name: str, **changes) -> object:
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["sources"][name].update(changes)
    main.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_config(main)


def _with_attributes(main: Path, attrs: list[str]):
    return _edit_source(main, "reviews", attributes=attrs)


@pytest.mark.parametrize("fmt, values, expected", [
    ("epoch_seconds", ["1741056060", "1741056060.5"], ["2025-03-04 02:41:00", "2025-03-04 02:41:00.5"]),
    ("epoch_milliseconds", ["1741056060000"], ["2025-03-04 02:41:00"]),
    ("excel", ["45720.5", "45720"], ["2025-03-04 12:00:00", "2025-03-04 00:00:00"]),
    ("%m/%d/%Y %I:%M %p", ["03/04/2025 02:41 PM"], ["2025-03-04 14:41:00"]),
])
def test_timestamps_as_people_export_them(tmp_path: Path, fmt: str, values: list[str], expected: list[str]):
    rows = "".join(f"{i},\"{v}\",4,ok,c{i}\n" for i, v in enumerate(values))
    data = _write(tmp_path / "data" / "r.csv", "id,at,stars,text,cust\n" + rows)
    main = _config(tmp_path, {"reviews": {"location": str(data), "format": "csv", "timestamp_format": fmt, "attributes": [],
                                          "columns": {"id": "review_id", "at": "published_at", "stars": "rating", "cust": "customer_id"}}},
                   personas={"personas": [{"id": "everyone", "name": "E", "rule": {"field": "customer_id", "op": "is_null", "value": False}}]})
    with pytest.raises(ConfigError):
        load_config(main)  # customer_id is no attribute: said at load (stumble 4), before any read
    config = _edit_source(main, "reviews", attributes=["customer_id"])
    data = read_source("reviews", config, Q1)
    assert not data.issues
    assert list(data.frame["published_at"]) == [pd.Timestamp(e, tz="UTC") for e in expected]


def test_percent_s_points_to_epoch_seconds_instead_of_a_python_error(tmp_path: Path):
    main = _config(tmp_path, {"reviews": {"location": "x.csv", "format": "csv", "timestamp_format": "%s"}})
    message = _error(main)
    assert "timestamp_format" in message and "epoch_seconds" in message and "bad directive" not in message
    main = _config(tmp_path, {"reviews": {"location": "x.csv", "format": "csv", "timestamp_format": "dd.mm.yyyy"}})
    assert "strftime format such as '%d.%m.%Y %H:%M'" in _error(main)


# --------------------------------------------------------------------------- 3: attributes from any source


def _orders_csv(tmp_path: Path) -> Path:
    rows = ["evt,cust,when,what,segment,value,via",
            "1,a,2025-01-05 10:00:00,purchase_done,Business,300,web",
            "2,a,2025-02-05 10:00:00,purchase_done,Private,100,web",   # the latest segment wins
            "3,b,2025-01-07 10:00:00,home_visit,Private,,app",
            "4,b,2025-01-08 10:00:00,purchase_done,Private,50,app",
            "5,c,2025-01-09 10:00:00,home_visit,,,app",                 # an empty value never wins
            "6,c,2025-01-01 10:00:00,home_visit,Business,,app"]
    return _write(tmp_path / "data" / "orders.csv", "\n".join(rows) + "\n")


ORDER_STAGES = {"stages": [
    {"id": "awareness", "names": {"en": "Awareness"}, "events": ["home_visit"]},
    {"id": "purchase", "names": {"en": "Purchase"}, "events": ["purchase_done"]}],
    "orders": {"events": ["purchase_done"]}}
SALES = {"format": "csv", "period_rows": "filter", "attributes": ["segment"],
         "columns": {"evt": "event_id", "cust": "customer_id", "when": "occurred_at", "what": "event_type", "value": "amount", "via": "channel"}}


def _segment_personas() -> dict:
    return {"personas": [
        {"id": "business", "name": "Business", "rule": {"field": "segment", "op": "eq", "value": "Business"}},
        {"id": "big", "name": "Big baskets", "rule": {"field": "avg_order_value", "op": "ge", "value": 100}},
        {"id": "rest", "name": "Rest", "rule": {"field": "order_count", "op": "ge", "value": 0}}]}


def test_a_segment_repeated_on_order_rows_gives_customers_their_latest_segment(tmp_path: Path):
    """Stumble 3 and 7: `attributes:` on the sales source is used (no customers file), and the
    order features follow the order events stages.yaml declares."""
    main = _config(tmp_path, {"sales": {**SALES, "location": str(_orders_csv(tmp_path))}}, personas=_segment_personas(),
                   stages=ORDER_STAGES)
    config = load_config(main)
    with open_engine(config) as engine:
        create_customers(engine, config, register_inputs(engine, Inputs(sales=read_source("sales", config, Q1).frame)))
        assign_personas(engine, config.personas)
        members = engine.query(f"SELECT customer_id, persona FROM {MEMBERS}").to_pandas()
    persona = {c: set(members.loc[members["customer_id"] == c, "persona"]) for c in "abc"}
    # a: latest segment Private; orders 300 + 100 -> average 200 (order features follow `orders`)
    assert persona == {"a": {"big"}, "b": {"rest"}, "c": {"business"}}


def test_order_features_without_declared_orders_are_a_config_error_not_silently_empty(tmp_path: Path):
    stages = {"stages": ORDER_STAGES["stages"]}
    main = _config(tmp_path, {"sales": {**SALES, "location": str(_orders_csv(tmp_path))}}, personas=_segment_personas(), stages=stages)
    message = _error(main)
    assert "personas[1].rule.field" in message and "declare `orders: {events: [...]}` in stages.yaml" in message


# --------------------------------------------------------------------------- 4, 5: references at load


def test_config_check_catches_unknown_persona_fields_and_undeclared_melted_questions(tmp_path: Path):
    sources = {"surveys": {"location": "s.csv", "format": "csv", "columns": {"id": "response_id", "at": "answered_at"},
                           "melt": {"variable": "question", "value": "score", "columns": {"Q1": "q_purchase_csat", "Q9": "q_unknown"}}},
               "customers": {"location": "c.csv", "format": "csv", "attributes": ["segment"]}}
    personas = {"personas": [{"id": "p", "name": "P", "rule": {"all": [{"field": "segment", "op": "eq", "value": "x"},
                                                                       {"field": "sgement", "op": "eq", "value": "y"}]}}]}
    main = _config(tmp_path, sources, personas=personas)
    result = cjm("config", "check", config=main)
    assert result.returncode == 2, result.stdout
    assert "personas[0].rule.all[1].field: persona 'p': 'sgement' is not a customer attribute" in result.stderr
    assert "question 'q_unknown' (from column 'Q9') is listed under no stage" in result.stderr


def test_removing_stages_lists_every_dangling_reference_at_once(tmp_path: Path):
    stages = yaml.safe_load((ROOT / "configs" / "stages.yaml").read_text(encoding="utf-8"))
    stages["stages"] = [s for s in stages["stages"] if s["id"] in ("awareness", "evaluation", "purchase")]
    main = _config(tmp_path, {"reviews": {"location": "r.jsonl", "format": "jsonl", "attributes": ["segment", "age"]}},
                   stages=stages, catalog="keep")
    message = _error(main)
    catalog = yaml.safe_load((ROOT / "configs" / "barriers.yaml").read_text(encoding="utf-8"))
    gone = [b for b in catalog["catalog"] + catalog["metric_rules"] if b["stage"] not in ("awareness", "evaluation", "purchase", "*")]
    assert len(gone) >= 5
    for barrier in gone:
        assert f"{barrier['id']!r}" in message, barrier["id"]


# --------------------------------------------------------------------------- 8: min_rows of a wide survey


WIDE = ("\ufeffresp;when;Q1;Q2;Q3;Q4;Q5\n" + "".join(f"r{i};0{1 + i % 9}.02.2025 10:00;4;5;3;4;5\n" for i in range(20)))


def _wide_sources(tmp_path: Path) -> dict:
    data = _write(tmp_path / "data" / "wide.csv", WIDE)
    questions = {f"Q{i}": q for i, q in enumerate(["q_awareness_found", "q_evaluation_info", "q_purchase_csat",
                                                    "q_experience_csat", "q_reminder_csat"], start=1)}
    return {"surveys": {"location": str(data), "format": "csv", "csv": {"delimiter": ";"}, "period_rows": "filter",
                        "timestamp_format": "%d.%m.%Y %H:%M", "columns": {"resp": ["response_id", "customer_id"], "when": "answered_at"},
                        "melt": {"variable": "question", "value": "score", "columns": questions}}}


def test_min_rows_of_a_wide_survey_counts_responses_and_says_so(tmp_path: Path):
    sources = _wide_sources(tmp_path)
    sources["surveys"]["attributes"] = ["customer_id"]
    personas = {"personas": [{"id": "every", "name": "E", "rule": {"field": "customer_id", "op": "is_null", "value": False}}]}
    main = _config(tmp_path, sources, personas=personas, expectations={"surveys": {"min_rows": 100}})
    outcome = read_and_validate(load_config(main), Q1, raise_on_failure=False)
    check = next(c for c in outcome.result.sources["surveys"].checks if c.kind == "row_count")
    # 20 responses of 5 questions are 100 answers, and still 20 responses short of 100.
    assert not check.success and check.observed == 20
    assert "at least 100 responses" in check.description and ": 100)" in check.description


# --------------------------------------------------------------------------- 9: --debug


def test_debug_keeps_the_exit_code_of_a_configuration_error(tmp_path: Path):
    main = _config(tmp_path, {"reviews": {"location": "x.csv", "format": "csv", "nope": 1}})
    plain, debug = cjm("config", "check", config=main), cjm("--debug", "config", "check", config=main)
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" in debug.stderr and "Traceback" not in plain.stderr


# --------------------------------------------------------------------------- 10, 11: reviews and scales


def test_scales_are_checked_where_they_belong(tmp_path: Path):
    main = _config(tmp_path, {"reviews": {"location": "r.csv", "format": "csv"}}, metrics={"scales": {"csat": [1, 5], "rating": [1, 10]}})
    assert "sources.reviews.scales: {rating: [low, high]}" in _error(main)
    main = _config(tmp_path, {"reviews": {"location": "r.csv", "format": "csv"}}, metrics={"scales": {"csat": [1, 5], "foo": [1, 3]}})
    assert "metrics.scales.foo" in _error(main) and "not the metric of any question" in _error(main)


def _lounge_reviews(tmp_path: Path, duplicate: bool = False) -> Path:
    long_text = "Crowded lounge, no seats anywhere. " * 120  # ~4 KB
    rows = ["date,score,review,platform,who,kind"]
    for i in range(40):
        platform = "old_site" if i % 2 else "new_site"
        score = (4 if i % 3 else 2) if platform == "old_site" else (9 if i % 3 else 3)
        rows.append(f"2025-02-{1 + i % 27:02d} 10:00,{score},\"{long_text if i == 0 else f'Visit {i}: the lounge was fine.'}\",{platform},u{i % 13},{'business' if i % 2 else 'leisure'}")
    if duplicate:
        rows.append(rows[1])
    return _write(tmp_path / "data" / "lounge.csv", "\n".join(rows) + "\n")


LOUNGE_STAGES = {"stages": [{"id": "lounge", "names": {"en": "Lounge"}}]}


def _lounge_config(tmp_path: Path, **extra) -> Path:
    source = {"location": str(_lounge_reviews(tmp_path, extra.pop("duplicate", False))), "format": "csv", "period_rows": "filter",
              "row_id": "hash", "attributes": ["kind"], "constants": {"stage": "lounge"},
              "columns": {"date": "published_at", "score": "rating", "review": "text", "who": "customer_id"}, **extra}
    personas = {"personas": [{"id": "business", "name": "Business", "rule": {"field": "kind", "op": "eq", "value": "business"}}]}
    main = _config(tmp_path, {"reviews": source}, personas=personas, stages=LOUNGE_STAGES, expectations={"reviews": {"min_rows": 10}})
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["files"]["barriers"] = str(_write(tmp_path / "cfg" / "lounge_barriers.yaml", yaml.safe_dump({"catalog": [
        {"id": "crowded", "stage": "lounge", "title": "Crowded", "recommendation": "Cap entries at peak hours.", "keywords": {"en": ["crowded"]}}]})))
    doc["files"].pop("examples", None)
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return main


def test_a_rating_scale_per_source_and_per_row_is_honoured_by_the_gate_and_the_maps(tmp_path: Path):
    main = _lounge_config(tmp_path, scales={"rating": [1, 10]})
    outcome = read_and_validate(load_config(main), Q1, raise_on_failure=False)
    # The old site rates 1-5 and the new one 1-10: one scale for both fails on the old site's rows? No:
    # every value is inside 1-10, so the gate passes, and the maps read 9 on 1-10 as 4.6 on 1-5.
    assert outcome.result.success, outcome.result.summary()
    frame = outcome.data["reviews"].frame
    assert frame.loc[frame["rating_raw"] == 9, "rating"].round(2).unique().tolist() == [4.56]
    per_row = _lounge_config(tmp_path, scale_by={"column": "platform", "scales": {"old_site": [1, 5], "new_site": [1, 10]}},
                             attributes=["kind", "platform"])
    frame = read_source("reviews", load_config(per_row), Q1).frame
    assert frame.loc[frame["rating_raw"] == 4, "rating"].unique().tolist() == [4.0]  # 4 of 5 stays 4
    assert frame.loc[frame["rating_raw"] == 9, "rating"].round(2).unique().tolist() == [4.56]
    wrong = _lounge_config(tmp_path)  # the 1-5 default: 9s are out of scale and the gate says how to fix it
    result = read_and_validate(load_config(wrong), Q1, raise_on_failure=False).result
    failed = [c for c in result.failures if c.kind == "range"]
    assert failed and "sources.reviews.scales.rating" in failed[0].description


def test_a_file_without_ids_gets_hashed_ids_and_a_duplicate_error_stays_short(tmp_path: Path):
    main = _lounge_config(tmp_path, scales={"rating": [1, 10]}, duplicate=True)
    result = read_and_validate(load_config(main), Q1, raise_on_failure=False).result
    unique = next(c for c in result.sources["reviews"].checks if c.kind == "unique")
    assert not unique.success and unique.unexpected_count == 2
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in unique.sample_values)
    assert len(result.summary()) < 600
    main = _lounge_config(tmp_path, scales={"rating": [1, 10]}, columns={"date": "published_at", "score": "rating", "review": "text",
                                                                          "who": "customer_id", "platform": "review_id"})
    # An id column pasted from the text column: the error quotes it cut short, not 4 KB of it.
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["sources"]["reviews"].pop("row_id")
    doc["sources"]["reviews"]["columns"] = {"date": "published_at", "score": "rating", "review": ["text", "review_id"], "who": "customer_id"}
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    _write(tmp_path / "data" / "lounge.csv", (tmp_path / "data" / "lounge.csv").read_text() + (tmp_path / "data" / "lounge.csv").read_text().splitlines()[1] + "\n")
    summary = read_and_validate(load_config(main), Q1, raise_on_failure=False).result.summary()
    assert "Crowded lounge" in summary and len(summary) < 1000


def test_without_a_customers_source_the_rule_error_says_why(tmp_path: Path):
    main = _lounge_config(tmp_path, scales={"rating": [1, 10]})
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["sources"]["reviews"]["attributes"] = []
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    message = _error(main)
    assert "'kind' is not a customer attribute" in message and "list it under `attributes:`" in message
    assert "(available: none)" in message


# --------------------------------------------------------------------------- 11: long surveys, the quarter's rows


LONG = ("resp,cust,ts,item,value\n"
        "A,c1,1738400000,q_purchase_csat,4\n"
        "A,c1,1738400000,q_loyalty_nps,9\n"
        "A,c1,1738400000,comment,\"Quick delivery, thanks\"\n"
        "B,c2,1738500000,q_purchase_csat,2\n"
        "B,c2,1738500000,comment,The courier never called\n"
        "C,c3,1746000000,q_purchase_csat,oops\n")  # 2025-04-30: another quarter, and not a number


def test_a_long_survey_export_reads_with_text_items_and_answer_level_uniqueness(tmp_path: Path):
    data = _write(tmp_path / "data" / "long.csv", LONG)
    source = {"location": str(data), "format": "csv", "layout": "long", "text_questions": ["comment"], "period_rows": "filter",
              "timestamp_format": "epoch_seconds", "attributes": ["customer_id"],
              "columns": {"resp": "response_id", "cust": "customer_id", "ts": "answered_at", "item": "question", "value": "score"}}
    personas = {"personas": [{"id": "every", "name": "E", "rule": {"field": "customer_id", "op": "is_null", "value": False}}]}
    main = _config(tmp_path, {"surveys": source}, personas=personas, expectations={"surveys": {"min_rows": 2}})
    outcome = read_and_validate(load_config(main), Q1, raise_on_failure=False)
    result = outcome.result.sources["surveys"]
    # The quarter's rows only: the April row (and its bad score) is outside 2025Q1.
    assert result.success, outcome.result.summary()
    assert result.rows == 3 and result.rows_outside_period == 1
    frame = outcome.data["surveys"].frame
    assert sorted(frame["response_id"]) == ["A:q_loyalty_nps", "A:q_purchase_csat", "B:q_purchase_csat"]
    assert set(frame.loc[frame["response_id"].str.startswith("A"), "comment"]) == {"Quick delivery, thanks"}
    assert frame["score"].tolist() == [4.0, 9.0, 2.0]
    count = next(c for c in result.checks if c.kind == "row_count")
    assert count.observed == 2 and "responses" in count.description
    # The same export cut to 2025Q2 reports its one bad score, counted over that quarter's rows.
    q2 = read_and_validate(load_config(main), Period.parse("2025Q2"), raise_on_failure=False).result
    types = next(c for c in q2.sources["surveys"].checks if c.kind == "types")
    assert types.unexpected_count == 1 and types.element_count == 1 and types.sample_values == ["oops"]


def test_stages_without_events_and_absent_sources_are_said_by_config_check(tmp_path: Path):
    stages = {"stages": [{"id": "purchase", "names": {"en": "Purchase"}, "events": ["home_visit", "purchase_done"]},
                         {"id": "lounge", "names": {"en": "Lounge"}, "events": []}], "orders": {"events": ["purchase_done"]}}
    main = _config(tmp_path, {"sales": {**SALES, "location": str(_orders_csv(tmp_path))}}, personas=_segment_personas(), stages=stages)
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["files"]["barriers"] = str(_write(tmp_path / "cfg" / "b.yaml", "catalog: []\n"))
    doc["files"].pop("examples", None)
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = cjm("config", "check", config=main)
    assert result.returncode == 0, result.stderr
    assert "stage 'lounge' lists no sales events" in result.stdout and "no surveys source" in result.stdout
    dry = cjm("config", "check", "--period", "2025Q1", config=main)
    assert dry.returncode == 0, dry.stderr
    assert "100% of rows map to a stage" in dry.stdout and "business" in dry.stdout


def test_readme_claims_only_the_languages_the_default_catalog_has():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    catalog = yaml.safe_load((ROOT / "configs" / "barriers.yaml").read_text(encoding="utf-8"))
    languages = {lang for b in catalog["catalog"] for lang in b["keywords"]}
    assert languages == {"en", "ru"}
    assert not re.search(r"default catalog[^.\n]*Portuguese", readme, flags=re.I)


# --------------------------------------------------------------------------- sources as people keep them


def test_an_excel_workbook_sheet_is_a_source(tmp_path: Path):
    import openpyxl
    from datetime import datetime

    book = openpyxl.Workbook()
    book.active.title = "Summary"
    sheet = book.create_sheet("Responses")
    sheet.append(["Response", "Customer", "Submitted", "Item", "Score"])
    sheet.append(["r1", "c1", datetime(2025, 2, 3, 9, 30), "q_purchase_csat", 4])
    sheet.append(["r2", "c2", 45720.5, "q_purchase_csat", 5])  # a date typed as a number: read with excel? no: mixed
    path = tmp_path / "data" / "answers.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    source = {"location": str(path), "format": "xlsx", "sheet": "Responses", "attributes": ["customer_id"],
              "columns": {"Response": "response_id", "Customer": "customer_id", "Submitted": "answered_at", "Item": "question", "Score": "score"}}
    personas = {"personas": [{"id": "every", "name": "E", "rule": {"field": "customer_id", "op": "is_null", "value": False}}]}
    main = _config(tmp_path, {"surveys": source}, personas=personas)
    data = read_source("surveys", load_config(main), Q1)
    assert data.frame["answered_at"].iloc[0] == pd.Timestamp("2025-02-03 09:30", tz="UTC")
    assert data.issues and data.issues[0].column == "answered_at" and data.issues[0].samples == ["45720.5"]
    missing = _edit_source(main, "surveys", sheet="Answers")
    with pytest.raises(Exception, match="no sheet named 'Answers' \\(sheets: Summary, Responses\\)"):
        read_source("surveys", missing, Q1)


@pytest.fixture
def postgres_db():
    """A fresh database on this machine's PostgreSQL server (skipped where none runs)."""
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine("postgresql://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"cjm_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432 ({str(exc).splitlines()[0]})")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_a_sql_query_is_a_source_bound_to_the_period_and_recorded_in_lineage(tmp_path: Path, postgres_db: str, monkeypatch):
    import sqlalchemy as sa

    from cjm_tasks.run.lineage import lineage_of

    engine = sa.create_engine(postgres_db)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE answers (id text, customer text, answered timestamptz, question text, score int, note text)"))
        for i in range(7):
            conn.execute(sa.text("INSERT INTO answers VALUES (:id, :c, :t, 'q_purchase_csat', :s, :n)"),
                         {"id": f"a{i}", "c": f"c{i % 3}", "t": f"2025-0{1 + i}-15 10:00:00+00", "s": 1 + i % 5, "n": f"note {i}"})
    engine.dispose()
    monkeypatch.setenv("ANSWERS_DB", postgres_db)
    query = ("SELECT id AS response_id, customer AS customer_id, answered AS answered_at, question, score, note AS comment "
             "FROM answers WHERE answered >= :start AND answered < :end ORDER BY id")
    source = {"format": "sql", "sql": {"url": "${ANSWERS_DB}", "query": query, "chunk_rows": 2}, "attributes": ["customer_id"]}
    personas = {"personas": [{"id": "every", "name": "E", "rule": {"field": "customer_id", "op": "is_null", "value": False}}]}
    main = _config(tmp_path, {"surveys": source}, personas=personas, expectations={"surveys": {"min_rows": 1}})
    config = load_config(main)
    outcome = read_and_validate(config, Q1, raise_on_failure=False)
    assert outcome.result.success, outcome.result.summary()
    data = outcome.data["surveys"]
    assert sorted(data.frame["response_id"]) == ["a0", "a1", "a2"]  # January to March, read in chunks of 2
    lineage = lineage_of(outcome.data, config)["inputs"]["surveys"]
    assert lineage["query"] == query and lineage["rows"] == 3 and "postgres@" not in lineage["location"]
    again = read_source("surveys", config, Q1)
    assert again.sha256 == data.sha256 and read_source("surveys", config, Period.parse("2025Q2")).sha256 != data.sha256
    # The run's configuration snapshot keeps the URL (and its password) out of the work storage;
    # every step reads it from the live configuration.
    from cjm_tasks.run.workspace import SNAPSHOT, Workspace

    workspace = Workspace.create(config, "sql-run")
    assert postgres_db.split("//")[1] not in workspace.storage.read_bytes(SNAPSHOT).decode()
    assert Workspace.open(workspace.handle).config().sources["surveys"].sql.url == postgres_db
    # Through an Airflow connection id, resolved from AIRFLOW_CONN_<ID> (Airflow writes postgres://).
    monkeypatch.setenv("AIRFLOW_CONN_ANSWERS", postgres_db.replace("postgresql://", "postgres://"))
    via_conn = _edit_source(main, "surveys", sql={"connection": "answers", "query": query})
    assert read_source("surveys", via_conn, Q1).sha256 == data.sha256
    bad = _edit_source(main, "surveys", sql={"url": "${ANSWERS_DB}", "query": "SELECT * FROM nowhere WHERE x >= :start"})
    with pytest.raises(Exception, match="query failed: UndefinedTable: relation \"nowhere\" does not exist"):
        read_source("surveys", bad, Q1)


# --------------------------------------------------------------------------- the reviews-only example


def test_the_reviews_only_example_refreshes_and_publishes_saying_which_lanes_have_no_data(tmp_path: Path):
    """Must show: configs/examples/reviews_only (no sales, no surveys, one stage) refreshes two
    quarters and publishes; the pages name the lanes without data and never say "0% reached"."""
    import shutil

    example = tmp_path / "reviews_only"
    shutil.copytree(ROOT / "configs" / "examples" / "reviews_only", example)
    doc = yaml.safe_load((example / "cjm.yaml").read_text(encoding="utf-8"))
    doc["storage"] = {k: str(tmp_path / "out" / k) for k in ("work", "versions", "site")}
    (example / "cjm.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    main = example / "cjm.yaml"
    assert cjm("config", "check", "--period", "2025Q1", config=main).returncode == 0
    for period in ("2025Q1", "2025Q2"):
        result = cjm("refresh", "--period", period, config=main)
        assert result.returncode == 0, result.stderr
    site = tmp_path / "out" / "site"
    pages = [p for p in site.rglob("*.html")]
    assert (site / "index.html").is_file() and len(pages) >= 4
    persona_pages = [p for p in pages if "/personas/" in str(p) or p.parent.name != "site"]
    text = "\n".join(p.read_text(encoding="utf-8") for p in persona_pages)
    assert "No sales data" in text and "No survey data" in text
    assert not re.search(r"\b0% reached", text)
    assert "Improve search and category navigation" not in text
    stored = json.loads(next((tmp_path / "out" / "versions" / "maps" / "all" / "2025Q2").rglob("map.json")).read_text())
    assert stored["data"] == {"sales": False, "surveys": False, "reviews": True}
    assert any(b["id"] == "overcrowded" for s in stored["stages"] for b in s["barriers"])


def test_several_catalogs_combine_and_a_repeated_id_names_both_files(tmp_path: Path):
    domain = ROOT / "configs" / "examples" / "domains" / "travel_hospitality"
    stages = yaml.safe_load((domain / "stages.yaml").read_text(encoding="utf-8"))
    personas = {"personas": [{"id": "p", "name": "P", "rule": {"field": "segment", "op": "eq", "value": "x"}}]}
    main = _config(tmp_path, {"reviews": {"location": "r.csv", "format": "csv", "attributes": ["segment"]}}, stages=stages, personas=personas)
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    own = _write(tmp_path / "cfg" / "own.yaml", yaml.safe_dump({"catalog": [
        {"id": "no_prayer_room", "stage": stages["stages"][0]["id"], "title": "No prayer room", "recommendation": "Open one.",
         "keywords": {"en": ["prayer room"]}}]}))
    doc["files"]["barriers"] = [str(domain / "barriers.yaml"), str(own)]
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    config = load_config(main)
    domain_ids = [b["id"] for b in yaml.safe_load((domain / "barriers.yaml").read_text(encoding="utf-8"))["catalog"]]
    assert [b.id for b in config.barriers.catalog] == [*domain_ids, "no_prayer_room"]
    doc["files"]["barriers"] = [str(domain / "barriers.yaml"), str(domain / "barriers.yaml")]
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert "is already declared in" in _error(main)


# --------------------------------------------------------------------------- Must show: three exports to a site


def test_from_three_exports_to_a_published_site_with_edits_only_to_persona_rules(tmp_path: Path):
    """cjm init -> config check --period -> refresh of two quarters, on exports shaped unlike the
    sample data (tests/your_exports.py), editing nothing but the persona rules."""
    from tests.your_exports import write_exports

    files = write_exports(tmp_path / "exports")
    out = tmp_path / "cfg"
    init = cjm("init", "--surveys", str(files["surveys"]), "--reviews", str(files["reviews"]), "--sales", str(files["sales"]), "--out", str(out))
    assert init.returncode == 0, init.stderr
    main = out / "cjm.yaml"
    written = yaml.safe_load(main.read_text(encoding="utf-8"))
    surveys = written["sources"]["surveys"]
    assert surveys["csv"]["delimiter"] == ";" and surveys["csv"]["encoding"] == "utf-8-sig"
    assert surveys["timestamp_format"] == "%d.%m.%Y %H:%M" and len(surveys["melt"]["columns"]) == 3
    assert written["sources"]["sales"]["attributes"] == ["segment"]
    assert "stage" not in written["sources"]["reviews"].get("columns", {}).values()
    # The analyst's only edit: persona rules of their own, over the segment on the order rows
    # and the order features that follow the order events init declared.
    personas = {"membership": "first", "personas": [
        {"id": "business", "name": "Business accounts", "rule": {"field": "segment", "op": "eq", "value": "Business"}},
        {"id": "big_baskets", "name": "Big baskets", "rule": {"field": "avg_order_value", "op": "ge", "value": 150}},
        {"id": "private", "name": "Private buyers", "rule": {"field": "segment", "op": "eq", "value": "Private"}}]}
    (out / "personas.yaml").write_text(yaml.safe_dump(personas, sort_keys=False), encoding="utf-8")
    check = cjm("config", "check", "--period", "2025Q1", config=main)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "100% of rows map to a stage" in check.stdout and "big_baskets" in check.stdout
    for period in ("2025Q1", "2025Q2"):
        refresh = cjm("refresh", "--period", period, config=main)
        assert refresh.returncode == 0, refresh.stderr
    store = load_config(main).storage.versions
    maps = {p: json.loads(next((Path(store) / "maps" / p / "2025Q2").rglob("map.json")).read_text()) for p in ("business", "big_baskets", "private", "all")}
    assert all(m["persona"]["customers"] > 20 for m in maps.values())
    assert maps["all"]["data"] == {"sales": True, "surveys": True, "reviews": True}
    purchase = next(s for s in maps["all"]["stages"] if any(b["id"] == "late_delivery" for b in s["barriers"]))
    assert purchase["metrics"]["reached_share"] > 0.5 and purchase["metrics"]["csat"] is not None
    diff = json.loads(next((Path(store) / "maps" / "all" / "2025Q2").rglob("diff.json")).read_text())
    late = next(b for b in diff["barriers"] if b["id"] == "late_delivery")
    assert late["status"] in ("worsened", "appeared")  # the planted change: late parcels tripled
    site = Path(load_config(main).storage.site)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "2025Q1" in index and "2025Q2" in index
    pages = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    assert "Late delivery" in pages and "Big baskets" in pages and "No sales data" not in pages


# --------------------------------------------------------------------------- 12: make repairs the venv


def test_make_install_repairs_a_venv_that_lost_its_extras(tmp_path: Path):
    """A plain `uv sync` (out of habit) removes Airflow, an extra; `make install`, which `make demo`
    and `make test` run first, checks what is installed and puts it back (no stamp trusted)."""
    import os
    import shutil

    project = tmp_path / "project"
    project.mkdir()
    for name in ("Makefile", "pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, project / name)
    # What the build needs: the packages and the folders the wheel carries as package data.
    for folder in ("cjm_tasks", "cjm_demo", "configs", "templates"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__", "_data"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "MAKEFLAGS", "MAKELEVEL")}
    python = shutil.which("python3") or sys.executable

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), cwd=project, env=env, capture_output=True, text=True, timeout=900)

    first = run("make", "install", f"PYTHON={python}")
    assert first.returncode == 0, first.stderr
    assert (project / ".venv" / "bin" / "airflow").exists()
    assert run(python, "-m", "uv", "sync", "--frozen", "--quiet").returncode == 0
    assert not (project / ".venv" / "bin" / "airflow").exists()  # the stumble: Airflow gone
    repaired = run("make", "install", f"PYTHON={python}")
    assert repaired.returncode == 0, repaired.stderr
    assert "installing the locked environment" in repaired.stdout
    assert (project / ".venv" / "bin" / "airflow").exists()
    again = run("make", "install", f"PYTHON={python}")
    assert again.returncode == 0 and "installing" not in again.stdout  # nothing to do: nothing done
