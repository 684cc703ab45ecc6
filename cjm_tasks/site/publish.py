"""Publish the rendered site to a folder or an S3 prefix so that no reader sees half a publish.

Order of writes:

1. every version's files (``personas/<persona>/<version>/...``) — created only if absent: a
   published version is never overwritten, and republishing it changes nothing;
2. the period pages (``periods/<period>/index.html``), then any other page (a comparison's);
3. the pages that list what the site holds: the persona pages (``personas/<persona>/index.html``),
   ``compare/index.json``, and the site index (``index.html``) last;
4. last, the ``latest`` pointer (``latest.json`` and ``latest/index.html``, which sends the
   reader to the newest period).

Pages are written whole (a temporary file renamed into place on a folder; a single PUT on S3),
so each page a reader fetches is complete; and because the pointer and the index move only after
every page they link to exists, a publish killed half-way leaves the site as the previous publish
left it (with, at most, unlinked new version pages). Navigation pages whose bytes would not
change are not written again.

The listing pages show the comparisons the site holds, and comparisons are published between
refreshes (:mod:`cjm_tasks.site.comparisons`): so that neither kind of publish drops what the
other wrote, a publish given a :class:`Navigation` looks at the site right before writing them,
draws them again if the site no longer holds what they were drawn from, and looks once more
after writing; if the site changed meanwhile (a comparison published at that moment), it draws
and writes them again. The last writer therefore always writes pages that list everything
published before it looked. Nothing published is deleted or overwritten on the way: version
pages and comparison pages are written by their own publishes only.

On a folder, pages are written through the storage's hidden staging folder, never beside the
pages; what an interrupted publish left there is removed by the next publish first (once its
writer is gone, see :meth:`cjm_tasks.storage.LocalStorage.remove_temporaries`).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from cjm_tasks.storage import Storage, StorageError

log = logging.getLogger(__name__)

_VERSION_FILE = re.compile(r"^personas/[^/]+/\d{4}Q[1-4]-r\d+/")
_PERIOD_PAGE = re.compile(r"^periods/(\d{4}Q[1-4])/")
_LISTING_PAGE = re.compile(r"^(personas/[^/]+/index\.html|compare/index\.json|index\.html)$")
# Looks at the site before and after writing the listing pages: one more look than the writes it allows.
LISTING_LOOKS = 4
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".css": "text/css; charset=utf-8",
}


def content_type(path: str) -> str:
    suffix = path[path.rfind("."):] if "." in path else ""
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


@dataclass
class PublishResult:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    latest: str | None = None
    url: str = ""


def latest_period(files: dict[str, bytes]) -> str | None:
    periods = sorted({m.group(1) for path in files if (m := _PERIOD_PAGE.match(path))})
    return periods[-1] if periods else None


def pointer_files(period: str | None) -> dict[str, bytes]:
    """``latest.json`` and ``latest/index.html`` for the newest period (empty without one)."""
    if period is None:
        return {}
    target = f"periods/{period}/index.html"
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"refresh\" content=\"0; url=../{target}\"><title>Latest: {period}</title></head>"
        f"<body><p>The latest report is <a href=\"../{target}\">{period}</a>.</p></body></html>\n"
    )
    return {
        "latest.json": (json.dumps({"period": period, "page": target}, indent=2) + "\n").encode(),
        "latest/index.html": page.encode(),
    }


class Navigation(Protocol):
    """How the listing pages (index, persona pages, ``compare/index.json``) are drawn from what
    the site holds (see the module's docstring; :class:`cjm_tasks.site.build.SiteNavigation`)."""

    def drawn_from(self, files: dict[str, bytes]) -> Any:
        """What the listing pages among ``files`` were drawn from; None when unknown."""

    def look(self, site: Storage) -> Any:
        """What the listing pages are drawn from, as ``site`` holds it now (comparable with ``==``)."""

    def draw(self, seen: Any) -> dict[str, bytes]:
        """The listing pages drawn from ``seen``."""


def publish_site(files: dict[str, bytes], site: Storage, navigation: Navigation | None = None) -> PublishResult:
    """Write ``files`` (relative path -> bytes) to ``site`` in the safe order above; with
    ``navigation``, the listing pages are drawn again from the site as it is when they are written."""
    result = PublishResult(url=site.url("index.html"))
    removed = site.remove_temporaries()
    if removed:
        log.warning("removed %d temporary file(s) an interrupted publish left in %s", len(removed), site.url())
    versions = sorted(p for p in files if _VERSION_FILE.match(p))
    periods = sorted(p for p in files if _PERIOD_PAGE.match(p))
    listing = {p: files[p] for p in files if _LISTING_PAGE.match(p)}
    other = sorted(p for p in files if p not in set(versions) | set(periods) | set(listing))
    for path in versions:
        if site.write_bytes(path, files[path], if_absent=True, content_type=content_type(path)):
            result.written.append(path)
        else:
            result.kept.append(path)
    for path in [*periods, *other]:
        _replace(site, path, files[path], result)
    if navigation is None:
        _write_listing(site, listing, result)
    else:
        _write_listing_as_the_site_is(site, listing, navigation, result)
    result.latest = latest_period(files)
    for path, data in pointer_files(result.latest).items():
        _replace(site, path, data, result)
    log.info("published %d file(s), kept %d, latest %s at %s", len(result.written), len(result.kept), result.latest, result.url)
    return result


def _write_listing(site: Storage, listing: dict[str, bytes], result: PublishResult) -> None:
    """The listing pages, the index last."""
    for path in sorted(listing, key=lambda p: (p == "index.html", p)):
        _replace(site, path, listing[path], result)


def _write_listing_as_the_site_is(site: Storage, listing: dict[str, bytes], navigation: Navigation, result: PublishResult) -> None:
    """Write the listing pages drawn from what the site holds when they are written: draw them
    again when the site changed since they were drawn, and look again after writing them (a
    comparison published meanwhile is listed by a second write, or by that comparison's own
    publish, which looks after this write)."""
    drawn, written = navigation.drawn_from(listing), None
    for _ in range(LISTING_LOOKS):
        seen = navigation.look(site)
        if written is not None and seen == written:
            return
        if seen != drawn:
            listing, drawn = navigation.draw(seen), seen
        _write_listing(site, listing, result)
        written = seen
    log.warning("the site kept changing while its index was written (%d times): what was published meanwhile "
                "shows in the index after the next publish", LISTING_LOOKS - 1)


def _replace(site: Storage, path: str, data: bytes, result: PublishResult) -> None:
    try:
        if site.read_bytes(path) == data:
            result.kept.append(path)
            return
    except StorageError:
        pass
    site.write_bytes(path, data, content_type=content_type(path))
    result.written.append(path)
