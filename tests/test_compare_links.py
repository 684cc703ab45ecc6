"""Comparison pages are found from the site: the index and the persona's page list every
comparison the site holds, newest first, as soon as it is published, and a refresh keeps them.

The refreshes here run the real steps a refresh (and each Airflow task) runs: ``store_versions``,
``render_site`` and ``publish_site`` on a run workspace; the comparisons run the compare DAG's
step, ``compare_versions``. Versions are the small stored maps of ``tests/data`` and revisions
of them, so no map is built.
"""

from __future__ import annotations

import copy
import json
import logging
import posixpath
from pathlib import Path

import pytest

from cjm_tasks.config import load_config
from cjm_tasks.run import steps
from cjm_tasks.run.pipeline import publish_comparison, site_navigation
from cjm_tasks.run.workspace import Workspace
from cjm_tasks.site.comparisons import Comparison, comparison_at, list_comparisons, newest_first
from cjm_tasks.site.publish import publish_site
from cjm_tasks.storage import LocalStorage, open_storage
from tests.conftest import write_config
from tests.test_report import Page, broken_links
from tests.test_safe_storing import small_maps

HOSTILE_NAME = 'Families <script>alert("x")</script> & "co"'


def revised(revision: int) -> dict[str, dict]:
    """The small maps with a changed description: storing them makes a new revision of 2025Q3."""
    maps = copy.deepcopy(small_maps())
    for doc in maps.values():
        doc["persona"]["description"] += f" (revision {revision})"
    maps["families"]["persona"]["name"] = HOSTILE_NAME
    return maps


def refresh(config_file: Path, run_id: str, maps: dict[str, dict], publish: bool = True) -> Workspace:
    """Store ``maps`` and publish the site through the refresh's steps (publish=False: stop after storing)."""
    config = load_config(config_file)
    workspace = Workspace.create(config, run_id)
    steps.store_versions(workspace, [workspace.save_map(persona, doc, "test") for persona, doc in maps.items()])
    if publish:
        steps.publish_site(workspace, steps.render_site(workspace))
    return workspace


def read(site, key: str) -> str:
    return site.read_bytes(key).decode("utf-8")


def comparison_links(html: str, page: str) -> list[tuple[str, str]]:
    """(label, target path in the site) of each link in the page's Comparisons section, in order."""
    section = html.split('data-section="comparisons"', 1)[1].split("</section>", 1)[0]
    found = []
    for chunk in section.split("<a href=\"")[1:]:
        href, rest = chunk.split('"', 1)
        label = rest.split(">", 1)[1].split("</a>", 1)[0]
        found.append((label, posixpath.normpath(posixpath.join(posixpath.dirname(page), href))))
    return [(label, target) for label, target in found if target.startswith("compare/")]


def site_files(site) -> dict[str, bytes]:
    return {key: site.read_bytes(key) for key in site.list()}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cfg", tmp_path / "data")


def test_a_comparison_after_a_refresh_is_listed_at_once_and_survives_the_next_refresh(config_file: Path, caplog):
    config = load_config(config_file)
    site = open_storage(config.storage.site)
    refresh(config_file, "run-r1", small_maps())
    refresh(config_file, "run-r2", revised(2))
    assert list_comparisons(site) == []
    assert "No comparison published yet." in read(site, "personas/families/index.html")

    with caplog.at_level(logging.INFO, logger="cjm_tasks.run.steps"):
        result = steps.compare_versions(str(config_file), "families", "2025Q3-r1", "2025Q3-r2")
        steps.compare_versions(str(config_file), "families", "2025Q3", "2025Q3-r1")  # 2025Q3: its latest revision
        steps.compare_versions(str(config_file), "seniors", "2025Q3-r1", "2025Q3-r2")
    page = Path(config.storage.site) / "compare" / "families" / "2025Q3-r1..2025Q3-r2" / "index.html"
    assert result["url"] == str(page) and page.is_file()
    assert f"comparison page published: {page}" in [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]

    # Newest first: by the later version compared, then the earlier one, then persona.
    on_index = comparison_links(read(site, "index.html"), "index.html")
    assert on_index == [("2025Q3-r1 → 2025Q3-r2", "compare/families/2025Q3-r1..2025Q3-r2/index.html"),
                        ("2025Q3-r1 → 2025Q3-r2", "compare/seniors/2025Q3-r1..2025Q3-r2/index.html"),
                        ("2025Q3-r2 → 2025Q3-r1", "compare/families/2025Q3-r2..2025Q3-r1/index.html")]
    families = comparison_links(read(site, "personas/families/index.html"), "personas/families/index.html")
    assert families == [on_index[0], on_index[2]]
    assert all(site.exists(target) for _, target in on_index)
    assert json.loads(read(site, "compare/index.json"))["comparisons"][0] == {
        "persona": "families", "from": "2025Q3-r1", "to": "2025Q3-r2", "page": "compare/families/2025Q3-r1..2025Q3-r2/index.html"}
    # The persona's name comes from the map: escaped wherever the lists show it.
    index = read(site, "index.html")
    assert "<script>" not in index and "Families &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;co&#34;" in index
    # The version page (written once) links the persona's page, which lists what came later.
    version_page = "personas/families/2025Q3-r2/index.html"
    assert "personas/families/index.html" in {posixpath.normpath(posixpath.join(posixpath.dirname(version_page), link))
                                              for link in Page(read(site, version_page)).links()}
    assert broken_links(site_files(site)) == []

    compared = {key: data for key, data in site_files(site).items() if key.startswith("compare/") and key != "compare/index.json"}
    refresh(config_file, "run-r3", revised(3))
    after = site_files(site)
    assert {key: after[key] for key in compared} == compared  # nothing published is lost or rewritten
    assert comparison_links(read(site, "index.html"), "index.html") == on_index
    assert comparison_links(read(site, "personas/families/index.html"), "personas/families/index.html") == families
    assert "2025Q3-r3" in read(site, "personas/families/index.html")
    assert broken_links(after) == []


def test_a_comparison_published_while_a_refresh_renders_is_still_listed_by_its_publish(config_file: Path):
    """The refresh renders its pages (task render_site), a comparison is published, then the
    refresh publishes (task publish_site): its index must not drop the comparison."""
    config = load_config(config_file)
    site = open_storage(config.storage.site)
    refresh(config_file, "run-r1", small_maps())
    workspace = refresh(config_file, "run-r2", revised(2), publish=False)
    rendered = steps.render_site(workspace)
    steps.compare_versions(str(config_file), "all", "2025Q3-r1", "2025Q3-r1")
    steps.publish_site(workspace, rendered)
    assert comparison_links(read(site, "index.html"), "index.html") == [
        ("2025Q3-r1 → 2025Q3-r1", "compare/all/2025Q3-r1..2025Q3-r1/index.html")]
    assert "2025Q3-r2" in read(site, "personas/all/index.html")
    assert broken_links(site_files(site)) == []


def test_a_comparison_published_before_a_stored_version_is_published_links_only_published_pages(config_file: Path):
    """A refresh stored r2 but has not published it yet: the comparison's index and persona
    pages show the site's versions only, and the refresh's publish then lists both."""
    config = load_config(config_file)
    site = open_storage(config.storage.site)
    refresh(config_file, "run-r1", small_maps())
    workspace = refresh(config_file, "run-r2", revised(2), publish=False)
    steps.compare_versions(str(config_file), "seniors", "2025Q3-r1", "2025Q3-r1")
    assert "2025Q3-r2" not in read(site, "index.html") and "2025Q3-r2" not in read(site, "personas/seniors/index.html")
    assert comparison_links(read(site, "personas/seniors/index.html"), "personas/seniors/index.html") == [
        ("2025Q3-r1 → 2025Q3-r1", "compare/seniors/2025Q3-r1..2025Q3-r1/index.html")]
    assert broken_links(site_files(site)) == []
    steps.publish_site(workspace, steps.render_site(workspace))
    assert "2025Q3-r2" in read(site, "personas/seniors/index.html")
    assert comparison_links(read(site, "index.html"), "index.html") == [
        ("2025Q3-r1 → 2025Q3-r1", "compare/seniors/2025Q3-r1..2025Q3-r1/index.html")]


class ComparedWhileIndexIsWritten(LocalStorage):
    """The site folder, where another process publishes a comparison at the moment this
    publish writes its index for the first time (after it looked at the site)."""

    def __init__(self, root: Path, config, compare: tuple[str, str, str]):
        super().__init__(root)
        self.config, self.compare, self.done = config, compare, False

    def write_bytes(self, key: str, data: bytes, **kwargs) -> bool:
        if key == "index.html" and not self.done:
            self.done = True
            publish_comparison(self.config, *self.compare)
        return super().write_bytes(key, data, **kwargs)


def test_a_comparison_published_while_the_index_is_written_is_listed_once_the_publish_ends(config_file: Path):
    config = load_config(config_file)
    refresh(config_file, "run-r1", small_maps())
    refresh(config_file, "run-r2", revised(2), publish=False)
    from cjm_tasks.run.pipeline import render_site

    site = ComparedWhileIndexIsWritten(Path(config.storage.site), config, ("families", "2025Q3-r1", "2025Q3-r2"))
    publish_site(render_site(config), site, site_navigation(config))
    assert site.done
    assert comparison_links(read(site, "index.html"), "index.html") == [
        ("2025Q3-r1 → 2025Q3-r2", "compare/families/2025Q3-r1..2025Q3-r2/index.html")]


def test_comparisons_on_s3_are_listed_and_kept(tmp_path: Path, bucket: str, s3_env: str):
    config_file = write_config(tmp_path / "cfg", tmp_path / "data", s3={"endpoint_url": s3_env, "region": "us-east-1"},
                               storage={"work": str(tmp_path / "work"), "versions": str(tmp_path / "store"),
                                        "site": f"s3://{bucket}/reports"})
    config = load_config(config_file)
    site = open_storage(config.storage.site, config.s3)
    refresh(config_file, "run-r1", small_maps())
    refresh(config_file, "run-r2", revised(2))
    result = steps.compare_versions(str(config_file), "all", "2025Q3-r1", "2025Q3-r2")
    assert result["url"] == f"s3://{bucket}/reports/compare/all/2025Q3-r1..2025Q3-r2/index.html"
    expected = [("2025Q3-r1 → 2025Q3-r2", "compare/all/2025Q3-r1..2025Q3-r2/index.html")]
    assert comparison_links(read(site, "index.html"), "index.html") == expected
    assert comparison_links(read(site, "personas/all/index.html"), "personas/all/index.html") == expected
    page = site.read_bytes(expected[0][1])
    refresh(config_file, "run-r3", revised(3))
    assert comparison_links(read(site, "index.html"), "index.html") == expected
    assert site.read_bytes(expected[0][1]) == page
    assert broken_links(site_files(site)) == []


@pytest.mark.parametrize("path", [
    "compare/families/2025Q3-r1..2025Q3-r2/summary.md",       # not the page
    "compare/Families/2025Q3-r1..2025Q3-r2/index.html",       # not a persona id
    "compare/families/2025Q3..2025Q3-r2/index.html",          # not an exact version
    "compare/families/2025Q3-r01..2025Q3-r2/index.html",      # not as the tool writes it
    "compare/families/2025Q3-r1..2025Q3-r2..x/index.html",
    "compare/families/x/2025Q3-r1..2025Q3-r2/index.html",
])
def test_only_pages_the_tool_writes_are_comparisons(path: str):
    assert comparison_at(path) is None


def test_newest_first_orders_by_the_later_version_then_the_earlier():
    a = Comparison("b", "2025Q1-r1", "2025Q4-r1")
    b = Comparison("a", "2025Q3-r1", "2025Q4-r1")
    c = Comparison("a", "2025Q4-r1", "2025Q4-r2")
    d = Comparison("a", "2025Q1-r1", "2025Q4-r10")
    assert comparison_at(d.page) == d
    assert newest_first([a, b, c, d, a]) == [d, c, b, a]
