"""The published pages in a real headless Chromium: no console errors, no request leaves the local
files, and hostile review text is shown as text while nothing executes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cjm_tasks.config import load_config
from cjm_tasks.run.pipeline import publish, publish_comparison, store_maps
from tests.conftest import REPO, write_sample_config

pytestmark = pytest.mark.browser

HOSTILE = ('<script>window.__pwned = "script"</script> <img src=x onerror="window.__pwned = \'img\'"> '
           '<a href="javascript:window.__pwned=\'link\'">click</a> onerror=alert(1) ' + "&lt;b&gt;")
HOSTILE_TAG = '<script>window.__pwned = "script"</script>'
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def site(sample_maps, sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site published from two stored quarters, one quote and the persona's description
    replaced by hostile text; the quote's matched words are its script tag; and a comparison
    of the two quarters published after it."""
    config = load_config(write_sample_config(tmp_path_factory.mktemp("browser-site"), sample_data))
    store_maps(config, sample_maps["2025Q1"])
    maps = copy.deepcopy(sample_maps["2025Q2"])
    doc = maps["young_urban"]
    barrier = next(b for s in doc["stages"] for b in s["barriers"] if b["quotes"])
    barrier["quotes"][0].update(text=HOSTILE, match=[0, len(HOSTILE_TAG)], source='"><svg onload=alert(2)>')
    doc["persona"]["description"] = HOSTILE
    store_maps(config, maps)
    publish(config)
    publish_comparison(config, "young_urban", "2025Q1", "2025Q2")
    return Path(config.storage.site)


def _open(browser, page: Path) -> dict:
    """Load ``page``; return its console messages and every request made on behalf of our pages
    (the browser's own start-up requests, such as its new-tab page, are left out)."""
    browser.get_log("browser"), browser.get_log("performance")  # drain what came before
    browser.get(page.as_uri())
    browser.execute_script("return document.readyState")
    console = browser.get_log("browser")
    requests = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            params = message["params"]
            if params.get("documentURL", "").startswith("file://") or params["request"]["url"].startswith("file://"):
                requests.append(params["request"]["url"])
    return {"console": console, "requests": requests}


@pytest.mark.parametrize("page", ["personas/young_urban/2025Q2-r1/index.html", "index.html", "periods/2025Q2/index.html", "latest/index.html",
                                  "personas/young_urban/index.html"])
def test_page_loads_clean_and_stays_local(browser, site: Path, page: str):
    seen = _open(browser, site / page)
    errors = [e for e in seen["console"] if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    assert seen["requests"], "the browser reported no request at all: the log is not working"
    leaving = [url for url in seen["requests"] if not url.startswith(("file://", "data:"))]
    assert leaving == [], leaving
    assert browser.execute_script("return document.querySelectorAll('script').length") == 0
    assert browser.execute_script("return document.styleSheets.length") >= 1  # the inline stylesheet applied


def test_hostile_review_text_is_shown_as_text_and_nothing_executes(browser, site: Path):
    _open(browser, site / "personas" / "young_urban" / "2025Q2-r1" / "index.html")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    body = browser.execute_script("return document.body.innerText")
    assert '<script>window.__pwned = "script"</script>' in body
    assert "onerror=alert(1)" in body and "&lt;b&gt;" in body
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
    assert not any(h and h.strip().lower().startswith("javascript:") for h in hrefs)
    assert browser.execute_script("return document.querySelectorAll('img, svg[onload], [onerror]').length") == 0
    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_window_size(1400, 2200)
    browser.save_screenshot(str(ARTIFACTS / "persona-page.png"))
    assert (ARTIFACTS / "persona-page.png").stat().st_size > 10_000


def test_phone_width_has_no_horizontal_page_scroll(browser, site: Path):
    # A phone viewport (a desktop window cannot be made this narrow): wide tables may scroll
    # inside their own box, but the page itself must not scroll sideways.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    _open(browser, site / "personas" / "young_urban" / "2025Q2-r1" / "index.html")
    assert browser.execute_script("return window.innerWidth") == 390
    overflow = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px on a phone"
    browser.save_screenshot(str(ARTIFACTS / "persona-page-phone.png"))


def test_matched_words_are_highlighted_and_stay_text(browser, site: Path):
    _open(browser, site / "personas" / "young_urban" / "2025Q2-r1" / "index.html")
    marks = browser.execute_script(
        "return Array.from(document.querySelectorAll('blockquote mark'))"
        ".map(m => [m.textContent, m.children.length, getComputedStyle(m).backgroundColor])")
    assert marks, "no quote has its matched words marked"
    assert [HOSTILE_TAG, 0] in [m[:2] for m in marks]
    assert all(m[1] == 0 for m in marks)  # only text inside a mark, never markup
    assert all(m[2] not in ("rgba(0, 0, 0, 0)", "transparent") for m in marks)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"


def test_a_period_page_shows_every_persona_card(browser, site: Path):
    _open(browser, site / "periods" / "2025Q2" / "index.html")
    cards = browser.execute_script("return Array.from(document.querySelectorAll('.pcard')).map(c => c.getBoundingClientRect().width)")
    assert len(cards) >= 2 and min(cards) > 250, cards
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "period-page.png"))


def test_the_index_links_a_comparison_published_after_it_and_the_link_opens_it(browser, site: Path):
    _open(browser, site / "index.html")
    links = browser.find_elements("css selector", "[data-section=comparisons] li > a")
    assert [a.text for a in links] == ["2025Q1-r1 → 2025Q2-r1"]
    links[0].click()
    assert browser.current_url == (site / "compare" / "young_urban" / "2025Q1-r1..2025Q2-r1" / "index.html").as_uri()
    assert browser.execute_script("return document.querySelector('h1').textContent").endswith("2025Q2-r1 compared with 2025Q1-r1")
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
