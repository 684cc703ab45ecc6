"""Build the published static site from the version store.

:func:`build_site` returns every file of the site as ``{relative path: bytes}``; publishing
(writing it to a folder or an S3 prefix) is :mod:`cjm_tasks.site.publish`'s job. The layout::

    index.html                                  every period and persona, latest highlights, comparisons
    periods/<period>/index.html                 persona cards, changed barriers, data quality
    personas/<persona>/index.html               every version of the persona and its comparisons
    personas/<persona>/<version>/index.html     the map, what changed, barrier history
    personas/<persona>/<version>/map.json       the stored bytes
    personas/<persona>/<version>/diff.json      the stored bytes
    personas/<persona>/<version>/barriers.csv   one row per barrier, safe to open in a spreadsheet
    personas/<persona>/<version>/summary.md     what changed, to paste into an email or a chat
    compare/<persona>/<from>..<to>/             a comparison of any two versions, on request
    compare/index.json                          the comparisons the pages list, newest first

A version's page is written once and never again (:mod:`cjm_tasks.site.publish`), so what grows
after it is published (later versions, comparisons) is listed by the pages every publish writes
again: the index and the persona pages, drawn by :func:`build_navigation` from the stored
versions and the comparisons the site holds (:mod:`cjm_tasks.site.comparisons`). A comparison
published between two refreshes draws them again at once (:class:`SiteNavigation`).

The site is self-contained so that it can be read from a folder, an S3 prefix or a zip without a
network: links are relative and point at ``index.html`` files (``file://`` does not resolve a
folder to its index), styles are inline and charts are SVG (:mod:`cjm_tasks.site.charts`).
There is no JavaScript.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from functools import cached_property
from typing import Any

from cjm_tasks import jsonio
from cjm_tasks.config import CjmConfig
from cjm_tasks.site.changes import what_changed
from cjm_tasks.site.comparisons import (MANIFEST, Comparison, comparison_folder, list_comparisons, manifest, newest_first,
                                        published_version_pages, read_manifest)
from cjm_tasks.site.context import ReportError, Site, Version, load_versions, persona_page
from cjm_tasks.site.exports import diff_exports, version_exports
from cjm_tasks.site.render import render_template
from cjm_tasks.site.views import render_index, render_period, render_persona, render_persona_index
from cjm_tasks.storage import Storage
from cjm_tasks.versions.history import barrier_history
from cjm_tasks.versions.store import VersionStore

Validations = dict[str, dict[str, Any]]


def build_site(store: VersionStore, config: CjmConfig, validations: Validations | None = None,
               comparisons: Iterable[Comparison] = ()) -> dict[str, bytes]:
    """The whole static site for every stored version, as ``{relative path: bytes}``.

    ``validations``: ``{period: validation.json as a dict}``; a period without one shows its
    data quality as not available. ``comparisons``: those the site holds
    (:func:`~cjm_tasks.site.comparisons.list_comparisons`), listed by the index and the persona
    pages. Raises :class:`ReportError` when the store holds a persona id that cannot be a folder
    name, and the store's errors when a file cannot be read.
    """
    site = Site(config, load_versions(store), {str(k): v for k, v in (validations or {}).items()})
    files = navigation_pages(site, comparisons)
    for period in site.periods:
        files[f"periods/{period}/index.html"] = render_period(site, period).encode("utf-8")
    for persona in site.personas:
        # From the versions already loaded: store.history() would read every map and diff again.
        history = barrier_history([(v.id, v.doc, v.diff) for v in site.versions[persona]])
        for version in site.versions[persona]:
            files[version.page] = render_persona(site, version, history).encode("utf-8")
            files.update(version_exports(version))
    return files


def navigation_pages(site: Site, comparisons: Iterable[Comparison]) -> dict[str, bytes]:
    """The pages that list what the site holds: ``index.html``, each persona's page and
    ``compare/index.json``, listing ``comparisons`` newest first."""
    comparisons = newest_first(comparisons)
    files = {"index.html": render_index(site, comparisons).encode("utf-8"), MANIFEST: manifest(comparisons)}
    for persona in site.personas:
        own = [c for c in comparisons if c.persona == persona]
        files[persona_page(persona)] = render_persona_index(site, persona, own).encode("utf-8")
    return files


def build_navigation(versions: dict[str, list[Version]], config: CjmConfig, validations: Validations,
                     comparisons: Iterable[Comparison], published: Collection[str] | None = None) -> dict[str, bytes]:
    """:func:`navigation_pages` of the ``versions`` loaded from the store
    (:func:`~cjm_tasks.site.context.load_versions`); with ``published`` (the version pages the
    site holds), only of the versions whose page is among them, so that no page links to a
    version a refresh has stored but not yet published."""
    if published is not None:
        versions = {p: kept for p, own in versions.items() if (kept := [v for v in own if v.page in published])}
    return navigation_pages(Site(config, versions, validations), comparisons)


@dataclasses.dataclass
class SiteNavigation:
    """The listing pages drawn from what the site holds when they are published (the
    :class:`~cjm_tasks.site.publish.Navigation` a publish is given).

    ``validations(periods)``: the stored gate results of those periods. ``published_only``: list
    only the versions whose pages the site holds (a comparison, published while a refresh may be
    between storing its versions and publishing them); otherwise every stored version (a
    refresh's publish, which writes their pages first).
    """

    store: VersionStore
    config: CjmConfig
    validations: Callable[[list[str]], Validations]
    published_only: bool = False

    @cached_property
    def versions(self) -> dict[str, list[Version]]:
        return load_versions(self.store)

    def drawn_from(self, files: dict[str, bytes]) -> tuple[tuple[Comparison, ...], None] | None:
        if self.published_only or MANIFEST not in files:
            return None
        return tuple(read_manifest(files[MANIFEST])), None

    def look(self, site: Storage) -> tuple[tuple[Comparison, ...], frozenset[str] | None]:
        return tuple(list_comparisons(site)), published_version_pages(site) if self.published_only else None

    def draw(self, seen: tuple[tuple[Comparison, ...], frozenset[str] | None]) -> dict[str, bytes]:
        comparisons, published = seen
        periods = sorted({v.period for own in self.versions.values() for v in own})
        return build_navigation(self.versions, self.config, self.validations(periods), comparisons, published)


def render_comparison(store: VersionStore, config: CjmConfig, persona: str, from_version: str, to_version: str,
                      diff: dict[str, Any]) -> dict[str, bytes]:
    """The comparison of any two versions: ``compare/<persona>/<from>..<to>/`` with the page,
    the diff as JSON and the Markdown summary. Versions are exact ids such as ``2025Q2-r1``."""
    site = Site(config, load_versions(store), {})
    old, new = site.find(persona, from_version), site.find(persona, to_version)
    if old is None or new is None:
        raise ReportError(f"versions {from_version} and {to_version} of {persona!r} must both be stored")
    root = "../../../"
    folder = comparison_folder(persona, from_version, to_version)
    compared = dataclasses.replace(new, diff=diff)
    changes = what_changed(site, compared, old, root)
    t = site.t
    heading = t["compare_title"].format(persona=new.doc["persona"]["name"], to=to_version, **{"from": from_version})
    page = render_template(
        "compare.html.j2",
        **site.context(root, [(t["home"], f"{root}index.html"), (new.doc["persona"]["name"], f"{root}{persona_page(persona)}"),
                              (heading, None)]),
        heading=heading, changes=changes, from_version=from_version, to_version=to_version,
        from_href=f"{root}{old.page}", to_href=f"{root}{new.page}",
    )
    return {f"{folder}/index.html": page.encode("utf-8"), **diff_exports(folder, diff, jsonio.dumps(diff))}
