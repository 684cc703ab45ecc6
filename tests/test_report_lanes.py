"""Lanes without data: a map built without a sales or surveys source says so on every page
instead of showing "0% reached" and empty lanes as if they had failed; with sales data, reach
is shown, 0% included.

Maps are built by ``journey.build_maps`` from small tables, stored through ``pipeline.store_maps``
and rendered by ``site.build.build_site``, under a journey of one or two stages whose personas are
rules over customer attributes only (a reviews-only setup has no sales features).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjm_tasks import jsonio
from cjm_tasks.config import load_config
from cjm_tasks.versions.diff import diff_maps
from cjm_tasks.maps.journey import build_maps
from cjm_tasks.maps.prepared import Inputs
from cjm_tasks.models import check_map
from cjm_tasks.periods import Period
from cjm_tasks.run.pipeline import store_maps
from cjm_tasks.site.build import build_site, render_comparison
from cjm_tasks.site.labels import Formatter, labels_for
from cjm_tasks.storage import open_storage
from cjm_tasks.versions.store import VersionStore
from tests.conftest import write_config
from tests.test_report import broken_links, visible_text, with_storage

Q2, Q3 = Period.parse("2025Q2"), Period.parse("2025Q3")
LINEAGE = {"inputs": {}, "config_sha256": "0" * 64, "code_version": "test"}
CUSTOMERS = [f"C{i:02d}" for i in range(40)]
# A percentage that is zero: "0%", "0.0%", "0 %" (Russian), not the end of "50%" or "10.0%".
ZERO_PERCENT = re.compile(r"(?<![\d.,])0(?:[.,]0+)?\s?%")

PURCHASE = {"id": "purchase", "names": {"en": "Purchase", "ru": "Покупка"}, "events": ["order_placed"],
            "questions": {"q_purchase_csat": "csat"}, "ideal": {"conversion_to_next": 0.8}}
EXPERIENCE = {"id": "experience", "names": {"en": "Experience", "ru": "Использование"}, "events": ["order_delivered", "product_registered"],
              "questions": {"q_experience_csat": "csat"}, "ideal": {"reached_share": 0.9, "csat": 4.4}}


def journey_config(folder: Path, stages: list[dict], *, sales: bool, store: Path, language: str = "en"):
    """The bundled configuration with only ``stages``, personas by age, every catalog barrier
    at the last stage, the metric rules of every stage only, and no surveys source (nor a sales
    one unless ``sales``); versions in ``store``."""
    main = write_config(folder, folder / "data", sources={"surveys": None, **({} if sales else {"sales": None})},
                        storage={"work": str(folder / "work"), "versions": str(store), "site": str(folder / "site")})
    (folder / "stages.yaml").write_text(yaml.safe_dump({"stages": stages}, allow_unicode=True), encoding="utf-8")
    (folder / "personas.yaml").write_text(yaml.safe_dump({"membership": "first", "personas": [
        {"id": "young", "name": "Young", "description": "Under 30.", "rule": {"all": [{"field": "age", "op": "lt", "value": 30}]}},
        {"id": "older", "name": "Older", "description": "30 and over.", "rule": {"all": [{"field": "age", "op": "ge", "value": 30}]}},
    ]}), encoding="utf-8")
    barriers = yaml.safe_load((folder / "barriers.yaml").read_text(encoding="utf-8"))
    for entry in barriers["catalog"]:
        entry["stage"] = stages[-1]["id"]
    barriers["metric_rules"] = [rule for rule in barriers["metric_rules"] if rule["stage"] == "*"]
    (folder / "barriers.yaml").write_text(yaml.safe_dump(barriers, allow_unicode=True), encoding="utf-8")
    config = load_config(main)
    return with_storage(config, store, language) if language != "en" else config


def reviews(period: Period) -> pd.DataFrame:
    """40 reviews, one per customer, half of them complaints about late delivery."""
    start = pd.Timestamp(period.start("UTC"))
    return pd.DataFrame({
        "review_id": [f"R{period}-{i}" for i in range(len(CUSTOMERS))],
        "customer_id": CUSTOMERS,
        "published_at": [start + pd.Timedelta(hours=i) for i in range(len(CUSTOMERS))],
        "rating": [2.0 if i % 2 else 5.0 for i in range(len(CUSTOMERS))],
        "text": ["The courier arrived late again" if i % 2 else "Great kettle, works well" for i in range(len(CUSTOMERS))],
        "source": "site",
        "language": "en",
    })


def customers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": CUSTOMERS, "segment": "consumer", "age": [20 + i for i in range(len(CUSTOMERS))]})


def sales(config, period: Period, events: list[str]) -> pd.DataFrame:
    """Each of ``events`` once for every customer, on the web."""
    start = pd.Timestamp(period.start("UTC"))
    rows = [(c, e) for c in CUSTOMERS for e in events]
    frame = pd.DataFrame(rows, columns=["customer_id", "event_type"])
    frame.insert(0, "event_id", [f"E{period}-{i}" for i in range(len(frame))])
    frame["occurred_at"] = [start + pd.Timedelta(minutes=i) for i in range(len(frame))]
    frame["channel"] = "web"
    frame["amount"] = [49.5 if e == "order_placed" else float("nan") for e in frame["event_type"]]
    frame["order_id"] = None
    frame["stage"] = frame["event_type"].map(config.event_stage)
    return frame


def published(config, maps: dict) -> dict[str, str]:
    """The site's pages (HTML) after storing ``maps``."""
    store_maps(config, maps)
    site = build_site(VersionStore(open_storage(config.storage.versions)), config)
    assert broken_links(site) == []
    return {path: data.decode("utf-8") for path, data in site.items() if path.endswith(".html")}


@pytest.fixture(scope="module", params=["en", "ru"])
def reviews_only(request, tmp_path_factory):
    """(language, maps, pages) of a one-stage journey with reviews and customers only."""
    folder = tmp_path_factory.mktemp(f"reviews-only-{request.param}")
    config = journey_config(folder / "cfg", [EXPERIENCE], sales=False, store=folder / "store", language=request.param)
    maps = build_maps(Inputs(reviews=reviews(Q3), customers=customers()), config, Q3, LINEAGE)
    return request.param, maps, published(config, maps)


@pytest.fixture(scope="module")
def with_sales(tmp_path_factory):
    """(maps, pages) of a two-stage journey with sales: every customer bought, nobody's order
    was delivered (0% reached the second stage, honestly)."""
    folder = tmp_path_factory.mktemp("with-sales")
    config = journey_config(folder / "cfg", [PURCHASE, EXPERIENCE], sales=True, store=folder / "store")
    inputs = Inputs(reviews=reviews(Q3), customers=customers(), sales=sales(config, Q3, ["order_placed"]))
    maps = build_maps(inputs, config, Q3, LINEAGE)
    return maps, published(config, maps)


def test_a_reviews_only_map_says_which_inputs_it_had_and_leaves_reach_unmeasured(reviews_only):
    _, maps, _ = reviews_only
    for doc in maps.values():
        check_map(json.loads(jsonio.dumps(doc)))
        assert doc["data"] == {"sales": False, "surveys": False, "reviews": True}
        (stage,) = doc["stages"]
        assert stage["metrics"]["reached_share"] is None and stage["metrics"]["conversion_to_next"] is None
        assert stage["touchpoints"] == [] and stage["actions"] == []
    assert maps["all"]["stages"][0]["metrics"]["rating"] == 3.5


def test_reviews_only_pages_say_which_lanes_have_no_data_and_never_0_percent(reviews_only):
    language, _, pages = reviews_only
    t = labels_for(language)
    for persona in ("all", "young", "older"):
        html = pages[f"personas/{persona}/2025Q3-r1/index.html"]
        text = visible_text(html)
        assert t["no_data_title"] in text and t["no_sales_data"] in text and t["no_survey_data"] in text, persona
        assert t["no_review_data"] not in text, persona
        # Touchpoints, actions, the funnel and the metrics lane name what is missing.
        assert text.count(t["nodata_sales"]) >= 4, persona
        assert f"{t['nodata_sales']} · {t['nodata_surveys']}" in text, persona
        assert not ZERO_PERCENT.search(text), (persona, ZERO_PERCENT.search(text))
        assert 'class="reach"' not in html and t["m_reached_share"] not in text and '<svg class="chart" viewBox="0 0 600' not in html, persona
    # Reviews were there: their rating and the emotion from them are shown as measured.
    all_page = visible_text(pages["personas/all/2025Q3-r1/index.html"])
    assert t["m_rating"] in all_page and t["nodata_feedback"] not in all_page
    period, index = visible_text(pages["periods/2025Q3/index.html"]), visible_text(pages["index.html"])
    assert f"{t['nodata_sales']} · {t['nodata_surveys']}" in period
    assert not ZERO_PERCENT.search(period) and not ZERO_PERCENT.search(index)


def test_with_sales_data_reach_is_shown_and_a_stage_nobody_reached_says_0_percent(with_sales):
    maps, pages = with_sales
    t, fmt = labels_for("en"), Formatter("en")
    assert maps["all"]["data"] == {"sales": True, "surveys": False, "reviews": True}
    purchase, experience = (s["metrics"] for s in maps["all"]["stages"])
    assert purchase["reached_share"] == 1.0 and experience["reached_share"] == 0.0 and purchase["conversion_to_next"] == 0.0
    text = visible_text(pages["personas/all/2025Q3-r1/index.html"])
    assert t["reached"].format(share=fmt.pct(1.0)) in text
    assert t["reached"].format(share=fmt.pct(0.0)) in text and t["go_on"].format(share=fmt.pct(0.0)) in text
    assert "web" in text and "order placed" in text
    assert t["no_sales_data"] not in text and t["nodata_sales"] not in text
    assert t["no_survey_data"] in text


def test_a_quarter_that_lost_its_sales_source_reports_no_fall_to_0_percent(tmp_path):
    """Q2 with sales (everyone reached the stage), Q3 reviews only: neither the persona page's
    "what changed", the comparison page nor the Markdown summary reports reach or a channel
    falling to 0%."""
    store = tmp_path / "store"
    before = journey_config(tmp_path / "q2", [EXPERIENCE], sales=True, store=store)
    after = journey_config(tmp_path / "q3", [EXPERIENCE], sales=False, store=store)
    old = build_maps(Inputs(reviews=reviews(Q2), customers=customers(), sales=sales(before, Q2, ["order_delivered"])), before, Q2, LINEAGE)
    assert old["all"]["stages"][0]["metrics"]["reached_share"] == 1.0
    store_maps(before, old)
    new = build_maps(Inputs(reviews=reviews(Q3), customers=customers()), after, Q3, LINEAGE)
    pages = published(after, new)
    versions = VersionStore(open_storage(str(store)))
    stored_diff = versions.read_diff(versions.list("all")[-1])
    assert not [m for m in stored_diff["metrics"] if m["metric"] in ("reached_share", "conversion_to_next")]
    assert not [c for c in stored_diff["touchpoints"] if c.get("flagged")]
    t = labels_for("en")
    page = visible_text(pages["personas/all/2025Q3-r1/index.html"])
    assert t["no_sales_data"] in page and not ZERO_PERCENT.search(page)
    assert t["no_sales_data"] not in visible_text(pages["personas/all/2025Q2-r1/index.html"])
    diff = diff_maps(old["all"], new["all"], after.diff, "2025Q2-r1", "2025Q3-r1")
    files = render_comparison(versions, after, "all", "2025Q2-r1", "2025Q3-r1", diff)
    comparison = visible_text(files["compare/all/2025Q2-r1..2025Q3-r1/index.html"].decode("utf-8"))
    assert not ZERO_PERCENT.search(comparison) and t["m_reached_share"] not in comparison
    assert not ZERO_PERCENT.search(files["compare/all/2025Q2-r1..2025Q3-r1/summary.md"].decode("utf-8"))


def test_a_map_stored_before_maps_said_what_data_they_had_shows_as_before(tmp_path):
    config = journey_config(tmp_path / "cfg", [EXPERIENCE], sales=False, store=tmp_path / "store")
    maps = build_maps(Inputs(reviews=reviews(Q3), customers=customers()), config, Q3, LINEAGE)
    for doc in maps.values():
        del doc["data"]
        check_map(json.loads(jsonio.dumps(doc)))
    t = labels_for("en")
    text = visible_text(published(config, maps)["personas/all/2025Q3-r1/index.html"])
    assert t["no_data_title"] not in text and t["nodata_sales"] not in text and t["nodata_surveys"] not in text
