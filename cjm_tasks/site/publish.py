"""Publish the rendered site to a folder or an S3 prefix so that no reader sees half a publish.

Order of writes:

1. every version's files (``personas/<persona>/<version>/...``) — created only if absent: a
   published version is never overwritten, and republishing it changes nothing;
2. the period pages (``periods/<period>/index.html``);
3. the site index (``index.html``);
4. last, the ``latest`` pointer (``latest.json`` and ``latest/index.html``, which sends the
   reader to the newest period).

Pages are written whole (a temporary file renamed into place on a folder; a single PUT on S3),
so each page a reader fetches is complete; and because the pointer and the index move only after
every page they link to exists, a publish killed half-way leaves the site as the previous publish
left it (with, at most, unlinked new version pages). Navigation pages whose bytes would not
change are not written again.

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

from cjm_tasks.storage import Storage, StorageError

log = logging.getLogger(__name__)

_VERSION_FILE = re.compile(r"^personas/[^/]+/\d{4}Q[1-4]-r\d+/")
_PERIOD_PAGE = re.compile(r"^periods/(\d{4}Q[1-4])/")
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


def publish_site(files: dict[str, bytes], site: Storage) -> PublishResult:
    """Write ``files`` (relative path -> bytes) to ``site`` in the safe order above."""
    result = PublishResult(url=site.url("index.html"))
    removed = site.remove_temporaries()
    if removed:
        log.warning("removed %d temporary file(s) an interrupted publish left in %s", len(removed), site.url())
    versions = sorted(p for p in files if _VERSION_FILE.match(p))
    periods = sorted(p for p in files if _PERIOD_PAGE.match(p))
    other = sorted(p for p in files if p not in set(versions) | set(periods) | {"index.html"})
    for path in versions:
        if site.write_bytes(path, files[path], if_absent=True, content_type=content_type(path)):
            result.written.append(path)
        else:
            result.kept.append(path)
    for path in [*periods, *other, "index.html"]:
        if path in files:
            _replace(site, path, files[path], result)
    result.latest = latest_period(files)
    for path, data in pointer_files(result.latest).items():
        _replace(site, path, data, result)
    log.info("published %d file(s), kept %d, latest %s at %s", len(result.written), len(result.kept), result.latest, result.url)
    return result


def _replace(site: Storage, path: str, data: bytes, result: PublishResult) -> None:
    try:
        if site.read_bytes(path) == data:
            result.kept.append(path)
            return
    except StorageError:
        pass
    site.write_bytes(path, data, content_type=content_type(path))
    result.written.append(path)
