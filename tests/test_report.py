"""The published static site: layout, links, self-containment, escaping, labels and exports.

The site is built from a real version store: the four sample quarters stored in order through
``pipeline.store_maps`` (so every diff is the one the pipeline computes).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import posixpath
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markupsafe import escape

from cjm_tasks.diff import diff_maps, to_markdown
from cjm_tasks.pipeline import store_maps
from cjm_tasks.report import (
    CSV_COLUMNS, LANGUAGES, ReportError, barriers_csv, build_site, csv_cell, labels_for, load_labels,
)
from cjm_tasks.storage import open_storage
from cjm_tasks.versions import VersionStore

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = "<script>alert(1)</script> <img src=x onerror=alert(1)> javascript:alert(1)"
PERSONA_PAGE_LIMIT = 300 * 1024


# ------------------------------------------------------------------------------ helpers


def with_storage(config, versions: Path, language: str | None = None):
    """``config`` with its version store at ``versions`` (and another report language)."""
    update = {"storage": config.storage.model_copy(update={"versions": str(versions)})}
    if language:
        update["project"] = config.project.model_copy(update={"language": language})
    return config.model_copy(update=update)


class Page(HTMLParser):
    """Every tag with its attributes, the ids, and the barrier cards with the badges inside them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.ids: set[str] = set()
        self.cards: list[dict[str, object]] = []
        self._card: dict[str, object] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "article" and "data-barrier" in values:
            self._card = {"id": values["data-barrier"], "status": values["data-status"], "badges": []}
            self.cards.append(self._card)
        elif self._card is not None and "badge" in values.get("class", "").split():
            self._card["badges"].append(values["class"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._card = None

    def links(self) -> list[str]:
        return [attrs[name] for _, attrs in self.tags for name in ("href", "src") if name in attrs]


def html_pages(site: dict[str, bytes]) -> dict[str, str]:
    return {path: data.decode("utf-8") for path, data in site.items() if path.endswith(".html")}


def broken_links(site: dict[str, bytes]) -> list[str]:
    """Links that leave the site, use a scheme, or name a file or an anchor that is not there."""
    pages = {path: Page(text) for path, text in html_pages(site).items()}
    problems = []
    for path, page in pages.items():
        for link in page.links():
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("/"):
                problems.append(f"{path}: {link!r} is not relative")
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), parts.path)) if parts.path else path
            if target.startswith("..") or target not in site:
                problems.append(f"{path}: {link!r} -> {target} is not a file of the site")
            elif parts.fragment and target in pages and parts.fragment not in pages[target].ids:
                problems.append(f"{path}: {link!r} names an anchor that does not exist")
    return problems


def persona_pages(site: dict[str, bytes]) -> list[str]:
    return sorted(p for p in site if p.startswith("personas/") and p.endswith("/index.html"))


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def stored(sample_config, sample_maps, tmp_path_factory):
    """(config, store): the four sample quarters stored in order in a store of this module."""
    config = with_storage(sample_config, tmp_path_factory.mktemp("report-store"))
    for period in sorted(sample_maps):
        store_maps(config, sample_maps[period])
    return config, VersionStore(open_storage(config.storage.versions))


@pytest.fixture(scope="module")
def validations(sample_config, sample_maps) -> dict[str, dict]:
    """The gate results the sample pipeline saved, except the first quarter's (to show "not available")."""
    work = open_storage(sample_config.storage.work)
    return {p: json.loads(work.read_bytes(f"validation/{p}/validation.json")) for p in sorted(sample_maps)[1:]}


@pytest.fixture(scope="module")
def site(stored, validations) -> dict[str, bytes]:
    config, store = stored
    return build_site(store, config, validations)


@pytest.fixture(scope="module")
def injected(stored, tmp_path_factory):
    """A copy of the store with one more revision whose untrusted texts carry script payloads,
    and the site built from it: (site, page path of the injected version, the injected map)."""
    config, store = stored
    folder = tmp_path_factory.mktemp("injected-store")
    shutil.copytree(config.storage.versions, folder, dirs_exist_ok=True)
    config = with_storage(config, folder)
    store = VersionStore(open_storage(str(folder)))
    latest = store.list("business_buyers")[-1]
    doc = copy.deepcopy(store.read_map(latest))
    doc["persona"]["name"] = f"Buyers {PAYLOAD}"
    doc["stages"][0]["name"] = f"Stage {PAYLOAD}"
    quoted = [b for s in doc["stages"] for b in s["barriers"] if b["quotes"]]
    quoted[0]["quotes"][0]["text"] = f"Quote {PAYLOAD}"
    quoted[0]["quotes"][0]["source"] = "javascript:alert(1)"
    emerging = next(b for s in doc["stages"] for b in s["barriers"] if b["kind"] == "emerging")
    emerging["title"] = f"Theme {PAYLOAD}"
    next(s for s in doc["stages"] if s["themes"]["negative"])["themes"]["negative"][0]["phrase"] = f"Fear {PAYLOAD}"

    def make_diff(previous_map, previous_version, version):
        return diff_maps(previous_map, doc, config.diff, str(previous_version.version) if previous_version else None, str(version))

    result = store.store(doc, make_diff)
    assert result.created
    return build_site(store, config), f"personas/business_buyers/{result.version}/index.html", doc


# ------------------------------------------------------------------------------ layout and links


def test_every_page_and_export_of_every_version_exists(site, stored):
    _, store = stored
    versions = store.list()
    periods = sorted({str(v.version.period) for v in versions})
    assert len(periods) == 4 and len(versions) == 4 * len(store.personas())
    expected = {"index.html", *(f"periods/{p}/index.html" for p in periods)}
    for v in versions:
        folder = f"personas/{v.persona}/{v.version}"
        expected |= {f"{folder}/{name}" for name in ("index.html", "map.json", "diff.json", "barriers.csv", "summary.md")}
        assert site[f"{folder}/map.json"] == store.storage.read_bytes(f"{v.prefix}/map.json")
        assert site[f"{folder}/diff.json"] == store.storage.read_bytes(f"{v.prefix}/diff.json")
    assert set(site) == expected


def test_every_link_resolves_inside_the_site(site):
    assert broken_links(site) == []


def test_the_link_check_itself_catches_bad_links():
    page = (b'<a href="gone.html">a</a><a href="javascript:alert(1)">b</a><a href="/abs.html">c</a>'
            b'<a href="https://example.com/">d</a><a href="#nowhere">e</a><a href="../outside.html">f</a><a href="#here" id="here">g</a>')
    assert len(broken_links({"index.html": page})) == 6


def test_the_index_links_every_version_and_every_period(site):
    linked = {posixpath.normpath(link) for link in Page(site["index.html"].decode()).links()}
    assert set(persona_pages(site)) <= linked
    assert {p for p in site if p.startswith("periods/")} <= linked


def test_a_persona_page_links_its_neighbours_and_exports(site):
    page = "personas/young_urban/2025Q2-r1/index.html"
    links = {posixpath.normpath(posixpath.join(posixpath.dirname(page), link)) for link in Page(site[page].decode()).links()}
    folder = posixpath.dirname(page)
    assert {"personas/young_urban/2025Q1-r1/index.html", "personas/young_urban/2025Q3-r1/index.html"} <= links
    assert {f"{folder}/{name}" for name in ("map.json", "diff.json", "barriers.csv", "summary.md")} <= links
    assert {"index.html", "periods/2025Q2/index.html"} <= links


def test_pages_are_self_contained(site):
    for path, text in html_pages(site).items():
        lowered = text.lower()
        assert "<script" not in lowered, path
        assert "http://" not in lowered and "https://" not in lowered, path
        assert "<link" not in lowered and "@import" not in lowered and "url(" not in lowered, path
        assert "<img" not in lowered and "<iframe" not in lowered, path
        assert lowered.count("<style>") == 1, path


def test_persona_pages_stay_small(site):
    sizes = {p: len(site[p]) for p in persona_pages(site)}
    assert max(sizes.values()) < PERSONA_PAGE_LIMIT, max(sizes.items(), key=lambda kv: kv[1])


def test_a_persona_page_shows_the_map_lanes_and_charts(site):
    html = site["personas/all/2025Q3-r1/index.html"].decode()
    doc = json.loads(site["personas/all/2025Q3-r1/map.json"])
    labels = labels_for("en")
    for key in ("lane_touchpoints", "lane_actions", "lane_emotion", "lane_metrics", "lane_barriers", "lane_themes",
                "lane_opportunities", "barrier_history", "emotion_curve", "funnel"):
        assert labels[key] in html, key
    assert html.count('class="col stage"') == len(doc["stages"])
    assert html.count('<svg class="seg"') == len(doc["stages"])
    assert "What changed since 2025Q2-r1" in html
    quotes = [q["text"] for s in doc["stages"] for b in s["barriers"] for q in b["quotes"][:3]]
    assert quotes and all(str(escape(q)) in html for q in quotes)
    assert html.count("<blockquote>") == len(quotes)


# ------------------------------------------------------------------------------ untrusted text


def test_untrusted_text_is_escaped_everywhere(injected):
    site, page, doc = injected
    assert broken_links(site) == []
    for path, html in html_pages(site).items():
        parsed = Page(html)
        tags = {tag for tag, _ in parsed.tags}
        assert not tags & {"script", "img", "iframe", "object", "embed"}, path
        for tag, attrs in parsed.tags:
            for name, value in attrs.items():
                assert not name.startswith("on"), (path, tag, name)
                assert not value.strip().lower().startswith("javascript:"), (path, tag, name, value)
        assert "<script>alert(1)" not in html and "<img src=x" not in html, path
    html = site[page].decode()
    # Quote, emerging theme title, theme phrase, persona and stage names all arrive as text.
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; javascript:alert(1)"
    for text in ("Quote ", "“Theme ", "Fear ", "Buyers ", "Stage "):
        assert text + escaped in html, text
    # The stage name is drawn in the SVG charts too: escaped there by the chart builder.
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert any("Stage &lt;script&gt;" in svg for svg in svgs)
    assert not any("<script" in svg for svg in svgs)
    period = html_pages(site)[f"periods/{doc['period']}/index.html"]
    assert "Buyers &lt;script&gt;" in period and "<script" not in period


def test_a_persona_id_that_is_no_slug_is_refused(stored, tmp_path):
    config, store = stored
    first = store.list("families")[0]
    bad = tmp_path / "store" / "maps" / "Families..x" / str(first.version.period) / "r1"
    shutil.copytree(Path(config.storage.versions) / first.prefix, bad)
    with pytest.raises(ReportError, match="not a slug"):
        build_site(VersionStore(open_storage(str(tmp_path / "store"))), config)


# ------------------------------------------------------------------------------ labels


def test_labels_exist_in_both_languages_and_every_used_label_is_defined():
    labels = load_labels()
    assert set(LANGUAGES) == {"en", "ru"}
    assert set(labels["en"]) == set(labels["ru"])
    assert all(labels[lang][key].strip() for lang in LANGUAGES for key in labels[lang])
    # Templates read labels as ``t.key``: a key named like a dict method would shadow the label.
    assert not set(labels["en"]) & set(dir(dict))
    used = set()
    for template in (REPO / "templates").glob("*.j2"):
        used |= set(re.findall(r"\bt\.([a-z_]+)", template.read_text(encoding="utf-8")))
    source = (REPO / "cjm_tasks" / "report.py").read_text(encoding="utf-8")
    used |= set(re.findall(r"\bt\[\"([a-z_]+)\"\]", source))
    dynamic = {f"{prefix}_{name}" for prefix, names in {
        "status": ("new", "worsened", "improved", "resolved", "unchanged", "appeared", "gone"),
        "kind": ("catalog", "metric", "emerging"),
        "mood": ("positive", "mixed", "negative"),
    }.items() for name in names}
    assert used, "no label usage found: the pattern above is out of date"
    assert used | dynamic <= set(labels["en"]), sorted((used | dynamic) - set(labels["en"]))
    # Placeholders match, so a translation cannot drop or rename a value.
    for key, text in labels["en"].items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", labels["ru"][key])), key


def test_a_russian_configuration_renders_russian_labels(stored, validations):
    config, store = stored
    ru, en = labels_for("ru"), labels_for("en")
    site = build_site(store, with_storage(config, Path(config.storage.versions), "ru"), validations)
    assert broken_links(site) == []
    page = site["personas/young_urban/2025Q2-r1/index.html"].decode()
    assert '<html lang="ru">' in page
    for key in ("journey_map", "lane_barriers", "barrier_history", "downloads", "emotion_curve"):
        assert ru[key] in page and en[key] not in page, key
    assert ru["what_changed_since"].format(version="2025Q1-r1") in page
    assert ru["data_quality"] in site["periods/2025Q2/index.html"].decode()
    assert re.search(r"[+−]\d,\d\d", page)  # numbers use the Russian decimal comma


# ------------------------------------------------------------------------------ exports


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_csv_cells_that_start_like_a_formula_are_neutralised(text):
    assert csv_cell(text) == "'" + text
    assert csv_cell("plain") == "plain" and csv_cell(12) == 12 and csv_cell(None) == ""


def test_barriers_csv_is_excel_friendly_and_safe(site, sample_maps):
    doc = copy.deepcopy(sample_maps["2025Q3"]["young_urban"])
    barrier = next(b for s in doc["stages"] for b in s["barriers"] if b["quotes"])
    barrier["title"] = "=cmd|' /C calc'!A0"
    barrier["quotes"][0]["text"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    doc["stages"][0]["name"] = "+Осознание"
    data = barriers_csv(doc, {"barriers": [], "emerging": []})
    assert data.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert len(rows) - 1 == sum(len(s["barriers"]) for s in doc["stages"])


def test_the_published_csv_has_one_row_per_barrier_with_its_change(site):
    for page in persona_pages(site):
        folder = page.rsplit("/", 1)[0]
        doc, diff = json.loads(site[f"{folder}/map.json"]), json.loads(site[f"{folder}/diff.json"])
        statuses = {b["id"]: b["status"] for b in diff["barriers"]} | {e["id"]: e["status"] for e in diff["emerging"]}
        rows = list(csv.DictReader(io.StringIO(site[f"{folder}/barriers.csv"].decode("utf-8-sig"))))
        barriers = [b for s in doc["stages"] for b in s["barriers"]]
        assert [r["id"] for r in rows] == [b["id"] for b in barriers]
        assert [r["change"] for r in rows] == [statuses.get(b["id"], "unchanged") for b in barriers]


def test_summary_md_is_the_markdown_of_the_stored_diff(site):
    for page in persona_pages(site):
        folder = page.rsplit("/", 1)[0]
        diff = json.loads(site[f"{folder}/diff.json"])
        summary = site[f"{folder}/summary.md"].decode("utf-8")
        assert summary == to_markdown(diff)
        for b in diff["barriers"]:
            if b["flagged"]:
                assert f"| {b['status']} |" in summary


# ------------------------------------------------------------------------------ changes and quality


def test_change_badges_match_the_stored_diff(site):
    badged = {"new", "worsened", "improved", "resolved", "appeared"}
    seen = set()
    for page in persona_pages(site):
        folder = page.rsplit("/", 1)[0]
        doc, diff = json.loads(site[f"{folder}/map.json"]), json.loads(site[f"{folder}/diff.json"])
        statuses = {b["id"]: b["status"] for b in diff["barriers"]} | {e["id"]: e["status"] for e in diff["emerging"]}
        expected = [(b["id"], statuses.get(b["id"], "unchanged")) for s in doc["stages"] for b in s["barriers"]]
        expected += [(b["id"], "resolved") for b in diff["barriers"] if b["status"] == "resolved"]
        cards = Page(site[page].decode()).cards
        assert sorted((c["id"], c["status"]) for c in cards) == sorted(expected), page
        for card in cards:
            want = [f"badge b-{card['status']}"] if card["status"] in badged else []
            assert card["badges"] == want, (page, card)
            seen.add(card["status"])
    assert {"new", "resolved", "unchanged"} <= seen  # the sample data has these changes planted


def test_a_period_page_lists_flagged_changes_and_data_quality(site, validations):
    html = site["periods/2025Q4/index.html"].decode()
    labels = labels_for("en")
    expected = set()
    for page in persona_pages(site):
        if "/2025Q4-" in page:
            diff = json.loads(site[page.replace("index.html", "diff.json")])
            expected |= {(diff["persona"], b["id"], b["status"]) for b in diff["barriers"] if b["flagged"]}
    shown = {(a["data-persona"], a["data-barrier"], a["data-status"]) for tag, a in Page(html).tags if tag == "tr" and "data-barrier" in a}
    assert expected and shown == expected
    quality = validations["2025Q4"]
    assert labels["checks_summary"].format(checks=quality["checks"], failed=quality["failed"]) in html
    for source in quality["sources"]:
        assert f"<td>{source}</td>" in html
    assert labels["not_available"] in site["periods/2025Q1/index.html"].decode()


def test_publishing_a_comparison_leaves_the_site_and_latest_pointer_alone(tmp_path, sample_maps, sample_data):
    import json as _json

    from cjm_tasks.config import load_config
    from cjm_tasks.pipeline import publish, publish_comparison, store_maps
    from tests.conftest import write_sample_config

    config = load_config(write_sample_config(tmp_path / "cmp", sample_data))
    for period in ("2025Q1", "2025Q2"):
        store_maps(config, sample_maps[period])
    publish(config)
    site = tmp_path / "cmp" / "site"
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    result = publish_comparison(config, "families", "2025Q1", "2025Q2")
    page = site / "compare" / "families" / "2025Q1-r1..2025Q2-r1" / "index.html"
    assert result["url"] == str(page) and page.is_file()
    assert {p: p.read_bytes() for p in before} == before
    assert _json.loads((site / "latest.json").read_text())["period"] == "2025Q2"
