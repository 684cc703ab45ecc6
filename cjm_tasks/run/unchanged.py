"""Is a quarter unchanged since it was last stored? Answered before anything is read.

A refresh of a quarter whose inputs, configuration and code are those of its stored versions
would rebuild every map only for the version store to find the same content and keep what it
has. The run's fingerprint answers first: for every file source, the files its location matches
for the period and the SHA-256 of each (the digests the reader records, combined as
:attr:`~cjm_tasks.ingest.canonical.SourceData.sha256`), the configuration's hash and the code
version. The quarter is unchanged when the lineage of the latest stored revision of the period,
for every persona a run builds (the configured ones and ``all``), names exactly these.

Never unchanged: a SQL source (a query has no checksum short of running it), an input that
cannot be listed or read (the run itself reports it), a persona without a stored revision.

The cheap comparisons (stored revisions, configuration hash, code version) come first, so a
quarter with another configuration is answered without hashing a byte. Files are hashed in
chunks (:data:`CHUNK`), several at a time: ``hashlib`` and reads release the GIL.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cjm_tasks.config import CjmConfig
from cjm_tasks.errors import CjmError
from cjm_tasks.ingest.canonical import InputFile, SourceData
from cjm_tasks.ingest.sources import location_for, source_files
from cjm_tasks.maps.personas import ALL_PERSONA
from cjm_tasks.periods import Period
from cjm_tasks.run.lineage import lineage_of
from cjm_tasks.storage import Storage

log = logging.getLogger(__name__)

# Measured at L (470 MB a quarter, customers included; 2 busy cores, files in the page cache):
# 1, 4 and 8 MiB chunks, on one thread or four, all hash it in 0.5-0.8 s. The threads are for
# S3, where every part file is a round-trip of its own.
CHUNK = 4 * 1024 * 1024
THREADS = 4


@dataclass(frozen=True)
class InputPrint:
    """What the lineage records of one file source: its files (as the reader names them, joined
    with ``, ``) and one SHA-256 over the files' own."""

    location: str
    sha256: str


@dataclass
class UnchangedCheck:
    """The answer for one period: ``unchanged``, else ``reasons`` (what differs, one line each).
    ``revisions``: the latest stored revision of each persona compared with ({persona: ``2025Q2-r1``})."""

    period: str
    unchanged: bool
    reasons: list[str] = field(default_factory=list)
    revisions: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: ``2025Q2 unchanged: inputs, configuration and code match r1 of every persona (5)``,
        or ``2025Q2 changed: <the reasons>``."""
        if not self.unchanged:
            return f"{self.period} changed: {'; '.join(self.reasons)}"
        revs = sorted({v.rsplit('-', 1)[-1] for v in self.revisions.values()}, key=lambda r: int(r[1:]))
        which = revs[0] if len(revs) == 1 else f"the latest revision ({', '.join(revs)})"
        return f"{self.period} unchanged: inputs, configuration and code match {which} of every persona ({len(self.revisions)})"

    def summary(self) -> dict[str, Any]:
        """The answer as plain values (for an orchestrator, or the refresh's result)."""
        return {"period": self.period, "unchanged": self.unchanged, "reasons": list(self.reasons),
                "revisions": dict(self.revisions), "message": self.describe()}


def compare_with_stored(config: CjmConfig, period: Period) -> UnchangedCheck:
    """Whether ``period`` is unchanged since the latest stored revision of every persona
    ``config`` builds (see the module's description); each reason it is not is logged at INFO.
    A store or an input that cannot be read is such a reason, never raised."""
    from cjm_tasks.run.pipeline import open_version_store

    def changed(reasons: list[str], revisions: dict[str, str] | None = None) -> UnchangedCheck:
        for reason in reasons:
            log.info("%s is not unchanged: %s", period, reason)
        return UnchangedCheck(str(period), False, reasons, revisions or {})

    sql = [name for name, source in config.sources.items() if source.format == "sql"]
    if sql:
        return changed([f"source {name} is a SQL query: it has no checksum short of running it" for name in sql])

    personas = [p.id for p in config.personas.personas] + [ALL_PERSONA]
    store = open_version_store(config)
    manifests: dict[str, dict[str, Any]] = {}
    try:
        for persona in personas:
            stored = store.list(persona, period)
            if stored:
                manifests[persona] = stored[-1].manifest
    except CjmError as exc:
        return changed([f"the version store {config.storage.versions} cannot be read ({exc})"])
    missing = [p for p in personas if p not in manifests]
    reasons = [f"no stored version of {period} for persona(s) {', '.join(missing)} in {config.storage.versions}"] if missing else []
    revisions = {persona: m.get("version", "?") for persona, m in manifests.items()}

    def which(differ: list[str]) -> str:
        return ", ".join(f"{persona} {revisions[persona]}" for persona in differ)

    # What a run would record besides its inputs (configuration hash, code version and whatever
    # else the lineage names): lineage_of with no input, so what it records is compared whole.
    expected = lineage_of({}, config)
    lineages = {persona: m.get("lineage", {}) for persona, m in manifests.items()}
    differ = [p for p, lineage in lineages.items() if lineage.get("config_sha256") != expected["config_sha256"]]
    if differ:
        reasons.append(f"the configuration (hash {expected['config_sha256'][:12]}) differs from that of {which(differ)}")
    # The store keeps the code version beside the lineage (it is not part of the content).
    differ = [p for p, m in manifests.items() if m.get("code_version") != expected["code_version"]]
    if differ:
        stored_codes = sorted({str(manifests[p].get("code_version")) for p in differ})
        reasons.append(f"the code version {expected['code_version']} differs from that of {which(differ)} ({', '.join(stored_codes)})")
    for key in sorted(set(expected) - {"inputs", "config_sha256", "code_version"}):
        differ = [p for p, lineage in lineages.items() if lineage.get(key) != expected[key]]
        if differ:
            reasons.append(f"lineage {key} {expected[key]!r} differs from that of {which(differ)}")
    for persona, lineage in lineages.items():
        stored_sources, configured = set(lineage.get("inputs", {})), set(config.sources)
        if stored_sources != configured:
            reasons.append(f"{persona} {revisions[persona]} was built from sources {', '.join(sorted(stored_sources)) or 'none'}, "
                           f"the configuration has {', '.join(sorted(configured))}")
    if reasons:
        return changed(reasons, revisions)

    prints, unreadable = fingerprint_inputs(config, period)
    reasons = list(unreadable.values())
    for name, now in prints.items():
        stored_prints = {p: InputPrint(lineage["inputs"][name].get("location", ""), lineage["inputs"][name].get("sha256", ""))
                         for p, lineage in lineages.items()}
        differ = [p for p, stored in stored_prints.items() if stored != now]
        if differ:
            what = "files" if stored_prints[differ[0]].location != now.location else "contents"
            reasons.append(f"source {name}: its {what} differ from the inputs of {which(differ)}")
    if reasons:
        return changed(reasons, revisions)
    return UnchangedCheck(str(period), True, [], revisions)


def fingerprint_inputs(config: CjmConfig, period: Period) -> tuple[dict[str, InputPrint], dict[str, str]]:
    """Every file source's :class:`InputPrint` for ``period``, and {source: why it cannot be
    fingerprinted} for those whose location matches nothing or cannot be listed or read."""
    files: dict[str, list[tuple[str, Storage, str]]] = {}
    unreadable: dict[str, str] = {}
    for name, source in config.sources.items():
        location = location_for(source, period)
        try:
            files[name] = source_files(source, period, config.s3).files  # what reading reads: a marker is not
        except CjmError as exc:
            unreadable[name] = f"source {name}: {location} cannot be listed ({exc})"
            continue
        if not files[name]:
            unreadable[name] = f"source {name}: no file matches {location}"
            del files[name]
    todo = [(name, display, storage, key) for name, found in files.items() for display, storage, key in found]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        digests = list(pool.map(lambda item: _digest_or_error(item[2], item[3]), todo))
    prints: dict[str, InputPrint] = {}
    for name, found in files.items():
        mine = [(display, digest) for (owner, display, _, _), digest in zip(todo, digests) if owner == name]
        errors = [f"{display} cannot be read ({digest.error})" for display, digest in mine if isinstance(digest, _Unreadable)]
        if errors:
            unreadable[name] = f"source {name}: {'; '.join(errors)}"
            continue
        # Combined as the reader's result combines them, so the value is the one the lineage holds.
        read = SourceData(name=name, frame=None, files=[InputFile(display, 0, str(digest)) for display, digest in mine], rows_read=0)
        prints[name] = InputPrint(", ".join(f.location for f in read.files), read.sha256)
    return prints, unreadable


@dataclass(frozen=True)
class _Unreadable:
    error: str


def _digest_or_error(storage: Storage, key: str) -> str | _Unreadable:
    try:
        return file_sha256(storage, key)
    except (OSError, CjmError) as exc:
        return _Unreadable(str(exc))


def file_sha256(storage: Storage, key: str, chunk: int = CHUNK) -> str:
    """The SHA-256 of the file at ``key``, read ``chunk`` bytes at a time (the digest the reader
    records for it, :class:`~cjm_tasks.ingest.canonical.InputFile`). Raises :class:`OSError` or
    :class:`~cjm_tasks.errors.CjmError` when it cannot be read."""
    h = hashlib.sha256()
    for part in storage.read_chunks(key, chunk):
        h.update(part)
    return h.hexdigest()
