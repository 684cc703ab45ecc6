"""The comparisons the site holds, and what the pages that list them are drawn from.

A comparison of two versions of a persona is published at ``compare/<persona>/<from>..<to>/``
(:func:`cjm_tasks.run.pipeline.publish_comparison`, from the ``cjm_compare_versions`` DAG or
``cjm diff … --publish``), at any time between two refreshes. The site itself is the record of
which comparisons exist: :func:`list_comparisons` lists the comparison pages present in the
site, so a listed comparison always has its page, and nothing needs to be kept in step with it.
The index and the persona pages list them (newest first), and ``compare/index.json`` holds the
same list for programs and for the publisher, which tells from it whether the pages it is about
to write still list what the site holds (:mod:`cjm_tasks.site.publish`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cjm_tasks import ids
from cjm_tasks.storage import Storage

MANIFEST = "compare/index.json"
_PAGE = re.compile(r"^compare/([^/]+)/([^/]+)\.\.([^/]+)/index\.html$")
_VERSION_PAGE = re.compile(r"^personas/[^/]+/[^/]+/index\.html$")


def comparison_folder(persona: str, from_version: str, to_version: str) -> str:
    """Where the comparison of two versions of ``persona`` is published in the site."""
    return f"compare/{persona}/{from_version}..{to_version}"


def _exact_version(text: str) -> ids.VersionRef | None:
    """``text`` as an exact version (``2025Q3-r2``, the form folders are named with), else None."""
    try:
        ref = ids.version_ref(text)
    except ids.IdError:
        return None
    return ref if ref.revision is not None and str(ref) == text else None


@dataclass(frozen=True)
class Comparison:
    """A published comparison: two exact version ids of one persona."""

    persona: str
    from_version: str
    to_version: str

    @property
    def folder(self) -> str:
        return comparison_folder(self.persona, self.from_version, self.to_version)

    @property
    def page(self) -> str:
        return f"{self.folder}/index.html"

    @property
    def label(self) -> str:
        return f"{self.from_version} → {self.to_version}"


def comparison_at(path: str) -> Comparison | None:
    """The comparison whose page is at ``path`` in the site, None for any other path (or a folder
    whose names are not a persona id and two exact version ids: not a page this tool wrote)."""
    match = _PAGE.match(path)
    if not match:
        return None
    persona, old, new = match.groups()
    try:
        ids.persona_id(persona)
    except ids.IdError:
        return None
    if _exact_version(old) is None or _exact_version(new) is None:
        return None
    return Comparison(persona, old, new)


def newest_first(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """Each comparison once, newest first: by the later version compared, then the earlier one
    (revisions after their quarter's earlier revisions), then persona id."""
    by_persona = sorted(set(comparisons), key=lambda c: c.persona)
    return sorted(by_persona, key=lambda c: (_exact_version(c.to_version), _exact_version(c.from_version)), reverse=True)


def list_comparisons(site: Storage) -> list[Comparison]:
    """Every comparison whose page the site holds, newest first (an empty or new site has none)."""
    return newest_first(c for path in site.list("compare/") if (c := comparison_at(path)))


def published_version_pages(site: Storage) -> frozenset[str]:
    """The version pages (``personas/<persona>/<version>/index.html``) the site holds."""
    return frozenset(path for path in site.list("personas/") if _VERSION_PAGE.match(path))


def manifest(comparisons: Iterable[Comparison]) -> bytes:
    """``compare/index.json``: the comparisons the pages list, newest first, each with its page."""
    rows = [{"persona": c.persona, "from": c.from_version, "to": c.to_version, "page": c.page} for c in newest_first(comparisons)]
    return (json.dumps({"comparisons": rows}, indent=2) + "\n").encode()


def read_manifest(data: bytes) -> list[Comparison]:
    """The comparisons a ``compare/index.json`` lists (entries this tool would not write are left out)."""
    rows = json.loads(data).get("comparisons", [])
    return newest_first(c for row in rows if isinstance(row, dict)
                        and (c := comparison_at(f"{comparison_folder(row.get('persona'), row.get('from'), row.get('to'))}/index.html")))
