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

from cjm_tasks.versions.diff import NOTES, STATUSES, diff_maps
from cjm_tasks.versions.wording import measure_text, to_markdown
from cjm_tasks.run.pipeline import store_maps
from cjm_tasks.site.build import build_site
from cjm_tasks.site.context import ReportError
from cjm_tasks.site.exports import CSV_COLUMNS, barriers_csv, csv_cell
from cjm_tasks.site.labels import LANGUAGES, labels_for, load_labels
from cjm_tasks.storage import open_storage
from cjm_tasks.versions.store import VersionStore

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
    """The version pages (``personas/<persona>/<version>/index.html``), not the persona pages above them."""
    return sorted(p for p in site if p.startswith("personas/") and p.endswith("/index.html") and p.count("/") == 3)


def marked_html(quote: dict) -> str:
    """A quote as the page should show it: each piece escaped, the matched words in <mark>."""
    text, match = quote["text"], quote.get("match")
    if not match:
        return str(escape(text))
    start, end = match
    return f"{escape(text[:start])}<mark>{escape(text[start:end])}</mark>{escape(text[end:])}"


def all_barriers(doc: dict) -> list[dict]:
    """The map's barriers, stage by stage, then those not tied to a stage."""
    return [*(b for s in doc["stages"] for b in s["barriers"]), *doc["unplaced"]]


def visible_text(html: str) -> str:
    """The page's text with tags removed and runs of spaces and newlines collapsed (entities
    decoded; no-break spaces kept, they are part of Russian numbers)."""
    from html import unescape

    return re.sub(r"[ \t\r\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


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
    # The matched words are the script tag itself: marked, and escaped on their own.
    quoted[0]["quotes"][0].update(text=f"Quote {PAYLOAD}", match=[6, 6 + len("<script>alert(1)</script>")],
                                  source="javascript:alert(1)")
    emerging = next(b for s in doc["stages"] for b in s["barriers"] if b["kind"] == "emerging")
    emerging["title"] = f"Theme {PAYLOAD}"
    emerging["evidence"]["phrases"] = [emerging["evidence"]["phrase"], f"Phrase {PAYLOAD}"]
    doc["unplaced"] = [{**copy.deepcopy(emerging), "id": "emerging-unplaced", "title": f"Unplaced {PAYLOAD}"}]
    next(s for s in doc["stages"] if s["themes"]["negative"])["themes"]["negative"][0]["phrase"] = f"Fear {PAYLOAD}"

    def make_diff(previous_map, previous_version, version):
        return diff_maps(previous_map, doc, config.diff, str(previous_version.version) if previous_version else None, str(version))

    result = store.store(doc, make_diff)
    assert result.created
    return build_site(store, config), f"personas/business_buyers/{result.version}/index.html", doc


CRAFTED_QUOTES = [
    {"text": "I paid <b>hidden fees</b> & more", "match": [7, 25], "via": "keyword", "source": "site", "date": "2025-12-01", "language": "en"},
    {"text": "No match was located in this one", "match": None, "via": "similarity", "source": "site", "date": "2025-12-02", "language": "en"},
    {"text": "Offsets past the end", "match": [5, 999], "via": "keyword", "source": "site", "date": "2025-12-03", "language": "en"},
]


def _entry(barrier_id: str, title: str, kind: str, stage: str, status: str, before: int, after: int, **extra) -> dict:
    """A diff entry of a catalog barrier or theme, ``before`` -> ``after`` customers of 1,500."""
    side = lambda n, active: {"customers": n, "denominator": 1500, "unit": "customers", "prevalence": round(n / 1500, 5),  # noqa: E731
                              "active": active, "bound": False}
    return {"id": barrier_id, "title": title, "kind": kind, "stage": stage, "status": status, "flagged": status != "unchanged",
            "direction": "up" if after > before else "down", "severity_from": before, "severity_to": after,
            "value_from": round(before / 1500, 4), "value_to": round(after / 1500, 4), "evidence_from": side(before, False),
            "evidence_to": side(after, True), "effect": {"difference": round((after - before) / 1500, 4), "low": 0.0104, "high": 0.0301},
            "p_value": 0.0001, "q_value": 0.001, "note": None, "note_code": None, "last_seen": None, **extra}


@pytest.fixture(scope="module")
def crafted(stored, tmp_path_factory):
    """A copy of the store with one more revision of three personas, showing what the sample
    data does not: (config, store, {persona: (page, map, diff)}).

    - families: a barrier that returned (diff written here), its evidence and quotes set by
      hand; a theme not tied to a stage; a change within noise; a rate whose diff says up is
      better; a stage with too few answers and one with enough;
    - seniors: too few customers for the whole persona (diff from ``diff_maps``);
    - young_urban: prevalences counted in texts (no customer ids).
    """
    config, store = stored
    folder = tmp_path_factory.mktemp("crafted-store")
    shutil.copytree(config.storage.versions, folder, dirs_exist_ok=True)
    config = with_storage(config, folder)
    store = VersionStore(open_storage(str(folder)))

    def latest(persona):
        return copy.deepcopy(store.read_map(store.list(persona)[-1]))

    families = latest("families")
    stages = {s["id"]: s for s in families["stages"]}
    stages["purchase"]["barriers"].insert(0, {
        "id": "crafted_fees", "title": "Crafted fees", "kind": "catalog", "severity": 33, "recommendation": "Show fees early.",
        "evidence": {"customers": 42, "denominator": 1500, "unit": "customers", "prevalence": 0.028, "interval": [0.0208, 0.0376],
                     "mentions": 45, "writers": 700, "texts": 1200, "stages": {"purchase": 33, "unplaced": 12}, "negativity": 0.7,
                     "keywords": {"hidden fee*": 45}, "sources": {"site": 45}},
        "quotes": CRAFTED_QUOTES})
    stages["awareness"].update(barriers=[], too_few=True)
    stages["reminder"].update(barriers=[], too_few=False)
    families["unplaced"] = [{
        "id": "emerging-crafted", "title": "waited forever", "kind": "emerging", "severity": 12, "recommendation": None,
        "evidence": {"phrase": "waited forever", "phrases": ["waited forever", "forever waiting"], "customers": 20, "denominator": 1500,
                     "unit": "customers", "prevalence": 0.01333, "interval": [0.0086, 0.0205], "mentions": 22, "negative_writers": 200,
                     "share_of_negative": 0.1, "stages": {"unplaced": 22}, "elsewhere": 0, "negativity": 0.8},
        "quotes": [{"text": "We waited forever.", "match": [3, 17], "via": "phrase", "source": "maps", "date": "2025-12-04", "language": "en"}]}]
    barriers = [
        _entry("crafted_fees", "Crafted fees", "catalog", "purchase", "returned", 12, 42, last_seen="2025Q1-r1"),
        _entry("emerging-crafted", "waited forever", "emerging", "unplaced", "new", 2, 20, phrases=["waited forever", "forever waiting"]),
        _entry("crafted_noise", "Crafted noise", "catalog", "loyalty", "unchanged", 4, 9,
               note="crossed the detection threshold; the change is within noise", note_code="crossed_noise"),
        _entry("crafted_quiet", "Crafted quiet", "catalog", "loyalty", "unchanged", 9, 10),
    ]
    barriers[1]["evidence_from"]["bound"] = True
    metrics = [{"stage": "purchase", "metric": "cancellation_rate", "from": 0.05, "to": 0.1, "delta": 0.05, "better": "higher",
                "change": "better", "p_value": 0.001, "q_value": 0.002, "flagged": True}]

    def families_diff(previous_map, previous_version, version):
        statuses = [b["status"] for b in barriers]
        return {"persona": "families", "persona_name": families["persona"]["name"], "stage_names": {s["id"]: s["name"] for s in families["stages"]},
                "from": str(previous_version.version), "to": str(version), "from_period": previous_map["period"], "to_period": families["period"],
                "unit": "customers", "too_few": False, "min_customers": 30, "method": {}, "metrics": metrics, "touchpoints": [],
                "barriers": barriers, "counts": {s: statuses.count(s) for s in STATUSES},
                "summary": "Crafted summary."}

    seniors = latest("seniors")
    seniors["persona"]["customers"] = 20
    seniors["measures"].update(denominator=20, writers=12, texts=15, too_few=True)
    seniors["summary"]["too_few"] = True
    seniors["unplaced"] = []
    for stage in seniors["stages"]:
        stage.update(too_few=True, barriers=[b for b in stage["barriers"] if b["kind"] == "metric"])

    young = latest("young_urban")
    young["measures"].update(unit="texts", denominator=900, anonymous_texts=900)
    for barrier in all_barriers(young):
        if barrier["kind"] != "metric":
            barrier["evidence"].update(unit="texts", denominator=900)

    def real_diff(doc):
        def make(previous_map, previous_version, version):
            seen = store.last_seen(doc["persona"]["id"], previous_version.version)
            return diff_maps(previous_map, doc, config.diff, str(previous_version.version), str(version), seen)
        return make

    out = {}
    for doc, make in ((families, families_diff), (seniors, real_diff(seniors)), (young, real_diff(young))):
        result = store.store(doc, make)
        assert result.created
        stored_version = store.list(doc["persona"]["id"])[-1]
        out[doc["persona"]["id"]] = (f"personas/{result.persona}/{result.version}/index.html", doc, store.read_diff(stored_version))
    return config, store, out


@pytest.fixture(scope="module")
def crafted_site(crafted) -> dict[str, bytes]:
    config, store, _ = crafted
    return build_site(store, config)


# ------------------------------------------------------------------------------ layout and links


def test_every_page_and_export_of_every_version_exists(site, stored):
    _, store = stored
    versions = store.list()
    periods = sorted({str(v.version.period) for v in versions})
    assert len(periods) == 4 and len(versions) == 4 * len(store.personas())
    expected = {"index.html", "compare/index.json", *(f"periods/{p}/index.html" for p in periods),
                *(f"personas/{persona}/index.html" for persona in store.personas())}
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
    quotes = [q for b in [*(b for s in doc["stages"] for b in s["barriers"]), *doc["unplaced"]] for q in b["quotes"][:3]]
    assert quotes and all(marked_html(q) in html for q in quotes)
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
    # Quote, emerging theme title and phrasings, theme phrase, persona and stage names all arrive as text.
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; javascript:alert(1)"
    for text in ("“Theme ", "“Phrase ", "“Unplaced ", "Fear ", "Buyers ", "Stage "):
        assert text + escaped in html, text
    assert "Quote <mark>&lt;script&gt;alert(1)&lt;/script&gt;</mark> &lt;img src=x onerror=alert(1)&gt; javascript:alert(1)" in html
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
    with pytest.raises(ReportError, match="is not a persona id"):
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
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "cjm_tasks" / "site").rglob("*.py")))
    used |= set(re.findall(r"\bt\[\"([a-z_]+)\"\]", source))
    dynamic = {f"{prefix}_{name}" for prefix, names in {
        "status": ("new", "returned", "worsened", "improved", "resolved", "unchanged", "too_few"),
        "kind": ("catalog", "metric", "emerging"),
        "mood": ("positive", "mixed", "negative"),
        "via": ("keyword", "similarity", "phrase"),
        "unit": ("customers", "texts"),
        "mentioned": ("customers", "texts"),
        "prevalence_note": ("customers", "texts"),
        "metric": ("change", "now"),
    }.items() for name in names} | {f"note_{code}" for code in NOTES}
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
    data = barriers_csv(doc, {"barriers": []})
    assert data.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert len(rows) - 1 == len(all_barriers(doc))


def test_the_published_csv_has_one_row_per_barrier_with_its_change(site):
    for page in persona_pages(site):
        folder = page.rsplit("/", 1)[0]
        doc, diff = json.loads(site[f"{folder}/map.json"]), json.loads(site[f"{folder}/diff.json"])
        statuses = {b["id"]: b["status"] for b in diff["barriers"]}
        rows = list(csv.DictReader(io.StringIO(site[f"{folder}/barriers.csv"].decode("utf-8-sig"))))
        barriers = all_barriers(doc)
        assert [r["id"] for r in rows] == [b["id"] for b in barriers]
        assert [r["change"] for r in rows] == [statuses.get(b["id"], "unchanged") for b in barriers]
        for row, b in zip(rows, barriers):
            if b["kind"] == "metric":
                assert (row["metric"], float(row["value"]), row["customers"]) == (b["evidence"]["metric"], b["evidence"]["value"], "")
            else:
                ev = b["evidence"]
                assert (int(row["customers"]), int(row["denominator"]), row["unit"], float(row["prevalence"])) == \
                    (ev["customers"], ev["denominator"], ev["unit"], ev["prevalence"])


def test_summary_md_is_the_markdown_of_the_stored_diff(site):
    for page in persona_pages(site):
        folder = page.rsplit("/", 1)[0]
        diff = json.loads(site[f"{folder}/diff.json"])
        summary = site[f"{folder}/summary.md"].decode("utf-8")
        assert summary == to_markdown(diff)
        for b in diff["barriers"]:
            if b["flagged"]:
                assert f"| {b['status']} |" in summary


# ------------------------------------------------------------------------------ evidence, quotes, places


def test_the_crafted_site_links_resolve(crafted_site):
    assert broken_links(crafted_site) == []


def test_evidence_says_how_many_of_whom_and_where_the_texts_sit(crafted, crafted_site):
    page, _, _ = crafted[2]["families"]
    text = visible_text(crafted_site[page].decode())
    assert "Mentioned by 42 of 1,500 customers (2.8%)" in text
    assert "45 texts: at Purchase; 12 without a stage" in text
    assert "Mentioned by 20 of 1,500 customers (1.3%)" in text and "22 texts: none with a stage" in text
    assert "also: “forever waiting”" in text and "10% of the 200 who complained" in text


def test_every_barrier_of_the_sample_shows_its_prevalence(site):
    for page in persona_pages(site):
        html = site[page].decode()
        text = visible_text(html)
        doc = json.loads(site[page.replace("index.html", "map.json")])
        for b in all_barriers(doc):
            ev = b["evidence"]
            if b["kind"] == "metric":
                continue
            share = f"{100 * ev['prevalence']:.2f}%" if ev["prevalence"] < 0.001 else f"{100 * ev['prevalence']:.1f}%"
            assert f"Mentioned by {ev['customers']:,} of {ev['denominator']:,} customers ({share})" in text, (page, b["id"])
            placed = {k: v for k, v in ev["stages"].items() if k != "unplaced"}
            if ev["stages"].get("unplaced") and placed:
                assert f"; {ev['stages']['unplaced']} without a stage" in text, (page, b["id"])


def test_prevalence_in_texts_says_texts(crafted, crafted_site):
    page, doc, _ = crafted[2]["young_urban"]
    text = visible_text(crafted_site[page].decode())
    catalog = [b for b in all_barriers(doc) if b["kind"] != "metric"]
    assert catalog
    for b in catalog:
        assert f"Mentioned in {b['evidence']['customers']} of 900 texts (" in text
    assert "Barrier shares are of the persona's 900 texts" in text and "of 900 customers" not in text


def test_quotes_mark_the_matched_words_with_each_piece_escaped(crafted, crafted_site):
    page, _, _ = crafted[2]["families"]
    html = crafted_site[page].decode()
    assert "I paid <mark>&lt;b&gt;hidden fees&lt;/b&gt;</mark> &amp; more" in html
    # No located match, or offsets that do not fit the text: the quote is shown unmarked.
    assert "“No match was located in this one”" in html and "“Offsets past the end”" in html
    assert "We <mark>waited forever</mark>." in html
    footers = re.findall(r"<footer>(.*?)</footer>", html)
    assert any("keyword match" in f for f in footers) and any("theme phrase" in f for f in footers)
    assert any("similar to a catalog example" in f for f in footers)
    assert html.count("<mark>") == sum(bool(q["match"]) and q["match"][1] <= len(q["text"])
                                       for b in all_barriers(crafted[2]["families"][1]) for q in b["quotes"][:3])


def test_themes_without_a_stage_have_their_own_labelled_section(crafted, crafted_site):
    page, doc, _ = crafted[2]["families"]
    html = crafted_site[page].decode()
    section = re.search(r'<section class="unplaced".*?</section>', html, flags=re.S).group(0)
    assert "Not tied to a stage" in section
    assert [c["id"] for c in Page(section).cards] == ["emerging-crafted"]
    assert 'data-status="new"' in section
    rows = list(csv.DictReader(io.StringIO(crafted_site[page.replace("index.html", "barriers.csv")].decode("utf-8-sig"))))
    assert rows[-1]["id"] == "emerging-crafted" and rows[-1]["stage"] == "Not tied to a stage"
    assert (rows[-1]["customers"], rows[-1]["denominator"], rows[-1]["prevalence"]) == ("20", "1500", "0.01333")


def test_a_stage_says_too_few_answers_rather_than_no_barriers(crafted, crafted_site):
    page, doc, _ = crafted[2]["families"]
    html = crafted_site[page].decode()
    columns = dict(re.findall(r'<h3 id="stage-\d+"><span class="num">\d+</span>(.*?)</h3>(.*?)</section>', html, flags=re.S))
    names = {s["id"]: s["name"] for s in doc["stages"]}
    assert "Too few answers to tell" in columns[names["awareness"]] and "No barriers found" not in columns[names["awareness"]]
    assert "No barriers found" in columns[names["reminder"]] and "Too few answers" not in columns[names["reminder"]]


def test_too_few_customers_is_said_on_the_persona_page_and_its_card(crafted, crafted_site):
    page, doc, diff = crafted[2]["seniors"]
    assert diff["too_few"]
    html = crafted_site[page].decode()
    notice = re.search(r'<div class="notice".*?</div>', html, flags=re.S).group(0)
    assert "Too few customers to tell (fewer than 30)" in notice and "Only 20 customers this quarter" in notice
    # It comes before the map, and the changes say why nothing was compared.
    assert html.index("Too few customers to tell") < html.index('class="map"')
    too_few = [b for b in diff["barriers"] if b["status"] == "too_few"]
    if too_few:
        assert f"{len(too_few)} barriers not compared" in visible_text(html)
    period = crafted_site[f"periods/{doc['period']}/index.html"].decode()
    card = next(c for c in re.findall(r'<article class="card pcard">.*?</article>', period, flags=re.S) if doc["persona"]["name"] in c)
    assert "Too few customers to tell (fewer than 30)" in card and "b-too_few" in card
    others = [c for c in re.findall(r'<article class="card pcard">.*?</article>', period, flags=re.S) if c != card]
    assert others and not any("Too few customers" in c for c in others)


# ------------------------------------------------------------------------------ what changed


def test_a_returned_barrier_says_when_it_was_last_seen_and_by_how_much(crafted, crafted_site):
    page, _, diff = crafted[2]["families"]
    html = crafted_site[page].decode()
    row = re.search(r'<tr data-barrier="crafted_fees".*?</tr>', html, flags=re.S).group(0)
    assert 'class="badge b-returned"' in row and ">returned<" in row
    assert re.search(r'<a href="\.\./\.\./\.\./personas/families/2025Q1-r1/index.html">last seen 2025Q1-r1</a>', row)
    assert "0.8% → 2.8% of customers (12 → 42), +2.0 points (95% CI +1.0 to +3.0)" in visible_text(row)
    theme = re.search(r'<tr data-barrier="emerging-crafted".*?</tr>', html, flags=re.S).group(0)
    # The earlier count of a theme that was no theme then is at most the floor: said as "≤".
    assert "Not tied to a stage" in theme and "(≤2 → 20)" in theme
    card = next(c for c in Page(html).cards if c["id"] == "crafted_fees")
    assert card["badges"] == ["badge b-returned"]


def test_changes_within_noise_are_listed_only_with_their_note(crafted, crafted_site):
    page, _, _ = crafted[2]["families"]
    html = crafted_site[page].decode()
    noise = re.search(r'<details class="noise.*?</details>', html, flags=re.S).group(0)
    assert "Crafted noise" in noise and "crossed the detection threshold; the change is within noise" in noise
    assert "Crafted quiet" not in html.split('id="changes"')[1].split('id="history-h"')[0]


def test_metric_changes_follow_the_direction_the_diff_gives(crafted, crafted_site):
    # The diff says a higher cancellation rate is better here: the page must not guess from the name.
    page, _, _ = crafted[2]["families"]
    html = crafted_site[page].decode()
    metrics = html.split('id="changes"')[1].split(labels_for("en")["metric_changes"])[1].split("</table>")[0]
    assert 'class="badge b-improved" data-change="better">better<' in metrics
    assert "5.0% → 10%" in metrics and "b-worsened" not in metrics


def test_the_english_change_measures_are_the_diffs_own_words(site):
    """The table says what the summary (and the email) says: diff.measure_text, number for number."""
    seen = 0
    for page in persona_pages(site):
        text = visible_text(site[page].decode()).replace("−", "-")
        diff = json.loads(site[page.replace("index.html", "diff.json")])
        for b in diff["barriers"]:
            if b["flagged"] and b["kind"] != "metric" and b["evidence_from"]:
                assert measure_text(b).replace("-0.0 ", "0.0 ") in text, (page, b["id"])
                seen += 1
    assert seen


def test_a_russian_site_says_the_new_evidence_in_russian(crafted):
    config, store, pages = crafted
    site = build_site(store, with_storage(config, Path(config.storage.versions), "ru"))
    ru = labels_for("ru")
    page, _, _ = pages["families"]
    text = visible_text(site[page].decode())
    assert "Упоминают 42 из 1\u202f500 клиентов (2,8\u00a0%)" in text
    assert "текстов: 45 — на этапе «Purchase»; без этапа: 12" in text  # stage names are the map's own
    assert ru["not_tied_to_stage"] in text and ru["status_returned"] in text
    assert "0,8\u00a0% → 2,8\u00a0% клиентов (12 → 42), +2,0 п. п. (95% ДИ от +1,0 до +3,0)" in text
    assert ru["note_crossed_noise"] in text and "crossed the detection threshold" not in text
    seniors = visible_text(site[pages["seniors"][0]].decode())
    assert ru["too_few_customers"].format(n=30) in seniors


# ------------------------------------------------------------------------------ changes and quality


def test_change_badges_match_the_stored_diff(site):
    badged = {"new", "returned", "worsened", "improved", "resolved", "too_few"}
    seen = set()
    for page in persona_pages(site):
        folder = page.rsplit("/", 1)[0]
        doc, diff = json.loads(site[f"{folder}/map.json"]), json.loads(site[f"{folder}/diff.json"])
        statuses = {b["id"]: b["status"] for b in diff["barriers"]}
        expected = [(b["id"], statuses.get(b["id"], "unchanged")) for b in all_barriers(doc)]
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
    from cjm_tasks.run.pipeline import publish, publish_comparison, store_maps
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
    # Only the pages that list the comparisons change: nothing else published is touched.
    assert {p for p in before if p.read_bytes() != before[p]} == {
        site / "index.html", site / "compare" / "index.json", site / "personas" / "families" / "index.html"}
    assert _json.loads((site / "latest.json").read_text())["period"] == "2025Q2"
