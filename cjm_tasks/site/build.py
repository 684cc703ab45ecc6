"""Build the published static site from the version store.

:func:`build_site` returns every file of the site as ``{relative path: bytes}``; publishing
(writing it to a folder or an S3 prefix) is :mod:`cjm_tasks.site.publish`'s job. The layout::

    index.html                                  every period and persona, latest highlights
    periods/<period>/index.html                 persona cards, changed barriers, data quality
    personas/<persona>/<version>/index.html     the map, what changed, barrier history
    personas/<persona>/<version>/map.json       the stored bytes
    personas/<persona>/<version>/diff.json      the stored bytes
    personas/<persona>/<version>/barriers.csv   one row per barrier, safe to open in a spreadsheet
    personas/<persona>/<version>/summary.md     what changed, to paste into an email or a chat
    compare/<persona>/<from>..<to>/             a comparison of any two versions, on request

The site is self-contained so that it can be read from a folder, an S3 prefix or a zip without a
network: links are relative and point at ``index.html`` files (``file://`` does not resolve a
folder to its index), styles are inline and charts are SVG (:mod:`cjm_tasks.site.charts`).
There is no JavaScript.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cjm_tasks import jsonio
from cjm_tasks.config import CjmConfig
from cjm_tasks.site.changes import what_changed
from cjm_tasks.site.context import ReportError, Site, load_versions
from cjm_tasks.site.exports import diff_exports, version_exports
from cjm_tasks.site.render import render_template
from cjm_tasks.site.views import render_index, render_period, render_persona
from cjm_tasks.versions.history import barrier_history
from cjm_tasks.versions.store import VersionStore


def build_site(store: VersionStore, config: CjmConfig, validations: dict[str, dict] | None = None) -> dict[str, bytes]:
    """The whole static site for every stored version, as ``{relative path: bytes}``.

    ``validations``: ``{period: validation.json as a dict}``; a period without one shows its
    data quality as not available. Raises :class:`ReportError` when the store holds a persona
    id that cannot be a folder name, and the store's errors when a file cannot be read.
    """
    site = Site(config, load_versions(store), {str(k): v for k, v in (validations or {}).items()})
    files: dict[str, bytes] = {"index.html": render_index(site).encode("utf-8")}
    for period in site.periods:
        files[f"periods/{period}/index.html"] = render_period(site, period).encode("utf-8")
    for persona in site.personas:
        # From the versions already loaded: store.history() would read every map and diff again.
        history = barrier_history([(v.id, v.doc, v.diff) for v in site.versions[persona]])
        for version in site.versions[persona]:
            files[version.page] = render_persona(site, version, history).encode("utf-8")
            files.update(version_exports(version))
    return files


def comparison_folder(persona: str, from_version: str, to_version: str) -> str:
    """Where the comparison of two versions of ``persona`` is published in the site."""
    return f"compare/{persona}/{from_version}..{to_version}"


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
        **site.context(root, [(t["home"], f"{root}index.html"), (new.doc["persona"]["name"], f"{root}{new.page}"), (heading, None)]),
        heading=heading, changes=changes, from_version=from_version, to_version=to_version,
        from_href=f"{root}{old.page}", to_href=f"{root}{new.page}",
    )
    return {f"{folder}/index.html": page.encode("utf-8"), **diff_exports(folder, diff, jsonio.dumps(diff))}
