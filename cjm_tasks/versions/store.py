"""The version store: immutable map versions with lineage, in a folder or an S3 prefix.

Layout: ``maps/<persona>/<period>/r<N>/{map.json, diff.json, manifest.json}``. A version is
``2025Q3-r2``; ``2025Q3`` alone means the period's latest revision.

Creating a revision needs no lock. ``map.json`` is created with a conditional create (``os.link``
on a folder, ``If-None-Match: *`` on S3): whoever creates it owns the revision number. The owner
then writes ``diff.json`` and, last, ``manifest.json``; only revisions with a manifest are
complete and visible. A writer that loses the race lists again: if a revision already holds the
same content (same content hash), no new revision is made, otherwise it takes the next number.
A revision abandoned before its manifest (a crash) with the same content is completed by the next
writer rather than duplicated; one with other content keeps its number unused. Nothing is ever
overwritten or deleted.

The content hash is the SHA-256 of the map's canonical JSON without ``lineage.code_version``: the
same inputs and configuration give the same hash, so refreshing a period twice keeps one revision,
while one changed input row (its file's SHA-256 is in the lineage) makes the next revision.

A refresh stores its personas one after the other. So that one stopped half-way (a crash, a
persona that cannot be written) is seen, it first writes a marker, ``pending/<period>/<run>.json``:
the personas it is about to store and each map's content hash (:meth:`VersionStore.begin`). The
run removes it once the site is published (:meth:`VersionStore.finish`), with the markers of
earlier runs of the same period, which its own complete refresh supersedes. Until then
:meth:`VersionStore.verify` reports the quarter as half-applied, naming the personas stored and
missing. Markers are the one thing in the store the tool removes; versions are never touched.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cjm_tasks import jsonio
from cjm_tasks.clock import stamp
from cjm_tasks.errors import CjmError
from cjm_tasks.periods import Period
from cjm_tasks.storage import Storage, StorageError, key_part

log = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"^(\d{4}Q[1-4])(?:-r(\d+))?$")
_REV_KEY = re.compile(r"^maps/([^/]+)/(\d{4}Q[1-4])/r(\d+)/(map|diff|manifest)\.json$")
_PENDING_KEY = re.compile(r"^pending/(\d{4}Q[1-4])/([^/]+)\.json$")
MAX_ATTEMPTS = 50
PENDING = "pending"


class VersionError(CjmError):
    """A version that does not exist, or a version id that cannot be parsed."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class VersionId:
    """``2025Q3-r2``: a period and a revision (``revision`` None means the latest)."""

    period: Period
    revision: int | None = None

    @classmethod
    def parse(cls, text: str) -> VersionId:
        """``2025Q3`` (the latest revision) or ``2025Q3-r2``, checked by :func:`cjm_tasks.ids.version_ref`."""
        from cjm_tasks import ids

        try:
            ref = ids.version_ref(text)
        except ids.IdError as exc:
            raise VersionError(str(exc)) from None
        return cls(ref.period, ref.revision)

    def __str__(self) -> str:
        return f"{self.period}" if self.revision is None else f"{self.period}-r{self.revision}"


def content_hash(doc: dict[str, Any]) -> str:
    """Hash of what the map says: canonical JSON without ``lineage.code_version``."""
    lineage = {k: v for k, v in doc.get("lineage", {}).items() if k != "code_version"}
    return jsonio.sha256_of({**doc, "lineage": lineage})


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass
class StoredVersion:
    """A complete revision: its id and manifest."""

    persona: str
    version: VersionId
    manifest: dict[str, Any]

    @property
    def prefix(self) -> str:
        return revision_prefix(self.persona, self.version.period, self.version.revision)


@dataclass
class StoreResult:
    persona: str
    version: VersionId
    created: bool
    manifest: dict[str, Any]


def _checked(persona: str) -> str:
    """A persona id given to the store, checked before it becomes part of a key or path."""
    from cjm_tasks import ids

    try:
        return ids.persona_id(persona, "persona")
    except ids.IdError as exc:
        raise VersionError(str(exc)) from None


def revision_prefix(persona: str, period: Period, revision: int | None) -> str:
    return f"maps/{persona}/{period}/r{revision}"


@dataclass
class Unfinished:
    """A refresh that began storing a period and has not published (see the module's description)."""

    key: str
    period: str
    run_id: str
    started_at: str
    stored: list[str]
    missing: list[str]

    def describe(self) -> str:
        told = f"{self.period}: half-applied by run {self.run_id} (started {self.started_at}): "
        if self.missing:
            told += (f"stored {', '.join(self.stored) or 'no persona'}; missing {', '.join(self.missing)}. "
                     f"The next refresh of {self.period} completes it")
        else:
            told += (f"all {len(self.stored)} persona(s) stored, the site not published. "
                     f"The next refresh of {self.period} (or `cjm publish`) publishes it")
        return told + " (a refresh still running shows the same)"


class VersionStore:
    """Immutable map versions in a :class:`~cjm_tasks.storage.Storage`."""

    def __init__(self, storage: Storage):
        self.storage = storage

    # ------------------------------------------------------------------ reading

    def _revisions(self, prefix: str = "maps/") -> dict[tuple[str, str, int], set[str]]:
        found: dict[tuple[str, str, int], set[str]] = {}
        for key in self.storage.list(prefix):
            m = _REV_KEY.match(key)
            if m:
                found.setdefault((m.group(1), m.group(2), int(m.group(3))), set()).add(m.group(4))
        return found

    def list(self, persona: str | None = None, period: Period | None = None) -> list[StoredVersion]:
        """Complete versions (with a manifest), by persona, period and revision."""
        if persona is not None:
            _checked(persona)
        prefix = "maps/" + (f"{persona}/" if persona else "") + (f"{period}/" if persona and period else "")
        out = []
        for (p, per, rev), files in sorted(self._revisions(prefix).items()):
            if "manifest" not in files or (period and per != str(period)):
                continue
            manifest = self._json(f"{revision_prefix(p, Period.parse(per), rev)}/manifest.json")
            out.append(StoredVersion(p, VersionId(Period.parse(per), rev), manifest))
        return out

    def incomplete(self) -> list[str]:
        """Revisions with a map but no manifest: abandoned or still being written."""
        return [f"{p}/{per}-r{rev}" for (p, per, rev), files in sorted(self._revisions().items()) if "manifest" not in files]

    def personas(self) -> list[str]:
        return sorted({v.persona for v in self.list()})

    def resolve(self, persona: str, version: VersionId | str) -> StoredVersion:
        """The stored version ``version`` (latest revision when none is given)."""
        _checked(persona)
        vid = VersionId.parse(version) if isinstance(version, str) else version
        candidates = [v for v in self.list(persona, vid.period) if vid.revision in (None, v.version.revision)]
        if not candidates:
            have = ", ".join(str(v.version) for v in self.list(persona)) or "none"
            raise VersionError(f"no version {vid} of persona {persona!r} in {self.storage.url('maps')} (stored: {have})")
        return candidates[-1]

    def latest_before(self, persona: str, version: VersionId) -> StoredVersion | None:
        """The version this one is compared with by default: the period's previous revision,
        else the latest revision of the most recent earlier period."""
        earlier = self._before(persona, version)
        return earlier[-1] if earlier else None

    def _before(self, persona: str, version: VersionId) -> list[StoredVersion]:
        """The persona's complete versions older than ``version``, oldest first."""
        return [v for v in self.list(persona) if (v.version.period, v.version.revision or 0) < (version.period, version.revision or 0)]

    def last_seen(self, persona: str, before: VersionId) -> dict[str, str]:
        """{barrier id: the latest version before ``before`` whose map lists it as active}, so a
        barrier that comes back after a quarter away is told apart from a new one."""
        from cjm_tasks.versions.history import active_barriers

        seen: dict[str, str] = {}
        for stored in reversed(self._before(persona, before)):
            for barrier_id in active_barriers(self.read_map(stored)):
                seen.setdefault(barrier_id, str(stored.version))
        return seen

    def read_map(self, stored: StoredVersion) -> dict[str, Any]:
        return self._json(f"{stored.prefix}/map.json")

    def read_diff(self, stored: StoredVersion) -> dict[str, Any]:
        return self._json(f"{stored.prefix}/diff.json")

    def history(self, persona: str) -> dict[str, dict[str, Any]]:
        """Every barrier of ``persona`` across all its versions (see :func:`cjm_tasks.versions.history.barrier_history`)."""
        from cjm_tasks.versions.history import barrier_history

        _checked(persona)
        return barrier_history([(str(v.version), self.read_map(v), self.read_diff(v)) for v in self.list(persona)])

    def _json(self, key: str) -> dict[str, Any]:
        import json

        raw = self.storage.read_bytes(key)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise VersionError(f"{self.storage.url(key)}: not valid JSON ({exc}); run `cjm versions verify`") from None

    # ------------------------------------------------------------------ writing

    def store(self, doc: dict[str, Any], make_diff: Callable[[dict[str, Any] | None, StoredVersion | None, VersionId], dict[str, Any]],
              run_id: str | None = None) -> StoreResult:
        """Store ``doc`` (a map) as the next revision of its persona and period, unless a
        revision with the same content exists. ``make_diff(previous_map, previous_version, version)``
        builds the diff against the version before it. Safe against concurrent writers.
        """
        persona, period = doc["persona"]["id"], Period.parse(doc["period"])
        payload = jsonio.dumps(doc)
        digest = content_hash(doc)
        run_id = run_id or uuid.uuid4().hex
        for _ in range(MAX_ATTEMPTS):
            revisions = {rev: files for (p, per, rev), files in self._revisions(f"maps/{persona}/{period}/").items()}
            for rev in sorted(revisions):
                prefix = revision_prefix(persona, period, rev)
                if "manifest" in revisions[rev]:
                    manifest = self._json(f"{prefix}/manifest.json")
                    if manifest.get("content_sha256") == digest:
                        log.info("%s %s-r%d unchanged: the map has the same content; no new revision", persona, period, rev)
                        return StoreResult(persona, VersionId(period, rev), False, manifest)
                elif "map" in revisions[rev]:
                    existing = self._read_or_none(f"{prefix}/map.json")
                    if existing is not None and _same_content(existing, digest):
                        manifest = self._complete(persona, period, rev, existing, make_diff, run_id)
                        log.info("%s %s-r%d completed: an interrupted store had left it without its diff and manifest", persona, period, rev)
                        return StoreResult(persona, VersionId(period, rev), False, manifest)
            revision = max(revisions, default=0) + 1
            if self.storage.write_bytes(f"{revision_prefix(persona, period, revision)}/map.json", payload, if_absent=True,
                                        content_type="application/json"):
                manifest = self._complete(persona, period, revision, payload, make_diff, run_id)
                log.info("stored %s %s-r%d", persona, period, revision)
                return StoreResult(persona, VersionId(period, revision), True, manifest)
            log.info("lost the race for %s %s-r%d; looking again", persona, period, revision)
        raise StorageError(f"could not create a revision of {persona} {period} after {MAX_ATTEMPTS} attempts")

    def _read_or_none(self, key: str) -> bytes | None:
        try:
            return self.storage.read_bytes(key)
        except StorageError:
            return None

    def _complete(self, persona: str, period: Period, revision: int, payload: bytes,
                  make_diff: Callable[[dict[str, Any] | None, StoredVersion | None, VersionId], dict[str, Any]], run_id: str) -> dict[str, Any]:
        """Write diff.json then manifest.json for a claimed revision (each only if absent)."""
        import json

        prefix = revision_prefix(persona, period, revision)
        doc = json.loads(payload)
        version = VersionId(period, revision)
        previous = self.latest_before(persona, version)
        diff_payload = jsonio.dumps(make_diff(self.read_map(previous) if previous else None, previous, version))
        self.storage.write_bytes(f"{prefix}/diff.json", diff_payload, if_absent=True, content_type="application/json")
        diff_payload = self.storage.read_bytes(f"{prefix}/diff.json")
        manifest = {
            "persona": persona,
            "period": str(period),
            "revision": revision,
            "version": str(version),
            "created_at": stamp(),
            "run_id": run_id,
            "code_version": doc.get("lineage", {}).get("code_version"),
            "content_sha256": content_hash(doc),
            "previous": str(previous.version) if previous else None,
            "files": {
                "map.json": {"sha256": _sha(payload), "bytes": len(payload)},
                "diff.json": {"sha256": _sha(diff_payload), "bytes": len(diff_payload)},
            },
            "lineage": {k: v for k, v in doc.get("lineage", {}).items() if k != "code_version"},
            "summary": {"customers": doc["summary"]["customers"], "barriers": doc["summary"]["barriers"],
                        "top_barriers": doc["summary"]["top_barriers"][:3]},
        }
        self.storage.write_bytes(f"{prefix}/manifest.json", jsonio.dumps(manifest), if_absent=True, content_type="application/json")
        return self._json(f"{prefix}/manifest.json")

    # ------------------------------------------------------------------ a refresh's marker

    def begin(self, run_id: str, maps: dict[str, dict[str, Any]]) -> list[str]:
        """Say, before storing ``maps`` ({persona: map}), that run ``run_id`` is about to store
        them: one marker per period, holding each persona's content hash; returns their keys."""
        by_period: dict[str, dict[str, str]] = {}
        for persona, doc in maps.items():
            by_period.setdefault(str(Period.parse(doc["period"])), {})[persona] = content_hash(doc)
        keys = []
        for period, personas in sorted(by_period.items()):
            key = f"{PENDING}/{period}/{key_part(run_id)}.json"
            # The wall clock, not stamp(): runs are ordered by it, and SOURCE_DATE_EPOCH would make them all equal.
            started = datetime.now(timezone.utc).isoformat()
            self.storage.write_bytes(key, jsonio.dumps({"run_id": run_id, "period": period, "started_at": started,
                                                        "personas": personas}), content_type="application/json")
            keys.append(key)
        return keys

    def finish(self, run_id: str) -> list[str]:
        """Run ``run_id`` has published: remove its markers and those of earlier runs of the same
        periods (started before it), which its complete refresh supersedes; returns the removed keys."""
        markers = {key: self._marker(key) for key in self._pending_keys()}
        own = {key: m for key, m in markers.items() if key.endswith(f"/{key_part(run_id)}.json")}
        removed = [key for key, m in markers.items()
                   if key in own or any(m["period"] == o["period"] and m["started_at"] < o["started_at"] for o in own.values())]
        self.storage.delete(removed)
        return sorted(removed)

    def unfinished(self, period: Period | str | None = None) -> list[Unfinished]:
        """The refreshes that began storing (``period``'s, or every period's) and have not published."""
        out = []
        for key in self._pending_keys(f"{PENDING}/{period}/" if period else f"{PENDING}/"):
            marker = self._marker(key)
            per = Period.parse(marker["period"])
            hashes = marker["personas"]
            have = {v.persona for v in self.list(period=per) if v.manifest.get("content_sha256") == hashes.get(v.persona)}
            out.append(Unfinished(key, str(per), marker.get("run_id", "?"), marker.get("started_at", "?"),
                                  sorted(p for p in marker["personas"] if p in have),
                                  sorted(p for p in marker["personas"] if p not in have)))
        return out

    def _pending_keys(self, prefix: str = f"{PENDING}/") -> list[str]:
        return [key for key in self.storage.list(prefix) if _PENDING_KEY.match(key)]

    def _marker(self, key: str) -> dict[str, Any]:
        marker = self._json(key)
        if not isinstance(marker.get("personas"), dict) or not _PENDING_KEY.match(f"{PENDING}/{marker.get('period')}/x.json"):
            raise VersionError(f"{self.storage.url(key)}: not a refresh marker (expected run_id, period, started_at and personas)")
        return marker

    # ------------------------------------------------------------------ checking

    def verify(self) -> list[str]:
        """Problems found: files missing, truncated or changed since their manifest was written,
        quarters a refresh left half-applied, temporary files interrupted writes left."""
        import json

        problems = [f"{name}: incomplete revision (map.json without manifest.json)" for name in self.incomplete()]
        problems += [unfinished.describe() for unfinished in self.unfinished()]
        problems += [f"{self.storage.url(name)}: temporary file left by an interrupted write (the next refresh removes it)"
                     for name in self.storage.temporaries()]
        for stored in self.list():
            name = f"{stored.persona}/{stored.version}"
            for file, expected in stored.manifest.get("files", {}).items():
                try:
                    data = self.storage.read_bytes(f"{stored.prefix}/{file}")
                except StorageError:
                    problems.append(f"{name}: {file} is missing")
                    continue
                if len(data) != expected.get("bytes"):
                    problems.append(f"{name}: {file} has {len(data)} bytes, the manifest says {expected.get('bytes')} (truncated or changed)")
                elif _sha(data) != expected.get("sha256"):
                    problems.append(f"{name}: {file} does not match its SHA-256 in the manifest (changed after it was stored)")
                elif file == "map.json" and content_hash(json.loads(data)) != stored.manifest.get("content_sha256"):
                    problems.append(f"{name}: map.json content hash differs from the manifest")
        return problems


def _same_content(payload: bytes, digest: str) -> bool:
    import json

    try:
        return content_hash(json.loads(payload)) == digest
    except ValueError:
        return False
