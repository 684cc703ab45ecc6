"""Whole-period operations on a loaded configuration, in memory: read and gate a quarter's sources,
build its maps, store them as versions, render and publish the site, compare two versions.

``cjm validate``, ``build``, ``publish`` and ``diff --publish`` call these directly; the refresh's
steps (:mod:`cjm_tasks.run.steps`, run by ``cjm refresh`` and the Airflow tasks alike) call them
with the configuration snapshot of their run's workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pathlib import Path
from typing import Any

from cjm_tasks import jsonio
from cjm_tasks.config import CjmConfig
from cjm_tasks.errors import DataError
from cjm_tasks.periods import Period
from cjm_tasks.ingest.canonical import SourceData
from cjm_tasks.ingest.sources import read_source
from cjm_tasks.storage import StorageError, open_storage
from cjm_tasks.ingest.checks import Check
from cjm_tasks.ingest.gate import GateResult, SourceResult, enforce, validate_sources, write_gate_report

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class GateOutcome:
    result: GateResult
    data: dict[str, SourceData]
    report: dict[str, str]


def validation_prefix(period: Period) -> str:
    return f"validation/{period}"


def read_and_validate(config: CjmConfig, period: Period, progress: Progress | None = None, raise_on_failure: bool = True) -> GateOutcome:
    """Read every source for ``period``, run the gate, save its report in the work storage.

    A source that cannot be read at all (missing column, undecodable bytes, empty file) is
    reported as a failed ``read`` check beside the other sources' checks, so one report lists
    every problem. Raises :class:`~cjm_tasks.errors.ValidationFailed` when any check failed
    (unless ``raise_on_failure`` is false).
    """
    data: dict[str, SourceData] = {}
    unreadable: dict[str, DataError] = {}
    for name in config.sources:
        if progress:
            progress(f"reading {name}")
        try:
            data[name] = read_source(name, config, period)
        except DataError as exc:
            unreadable[name] = exc
    if progress:
        progress(f"validating on {config.engine.kind}")
    return gate(config, period, data, unreadable, raise_on_failure)


def gate(config: CjmConfig, period: Period, data: dict[str, SourceData], unreadable: dict[str, DataError],
         raise_on_failure: bool = True) -> GateOutcome:
    """Run the validation gate on sources already read (and those that could not be) in the
    configured engine, save the report (``validation/<period>/validation.{json,html}`` in the work
    storage) and, unless told otherwise, raise :class:`~cjm_tasks.errors.ValidationFailed` when a
    check failed."""
    from cjm_tasks.engine import open_engine
    from cjm_tasks.engine.inputs import register_sources

    with open_engine(config) as engine:
        register_sources(engine, data)
        result = validate_sources(data, config, period, engine)
    for name, exc in unreadable.items():
        result.sources[name] = SourceResult(
            source=name, rows=0, rows_outside_period=0, files=[],
            checks=[Check(source=name, kind="read", column=None, description=exc.detail, success=False,
                          expectation="cjm_readable", sample_rows=[exc.location])],
        )
    result.sources = {name: result.sources[name] for name in config.sources if name in result.sources}
    report = write_gate_report(result, open_storage(config.storage.work, config.s3), validation_prefix(period))
    log.info("validation of %s: %s (%s)", period, "passed" if result.success else "FAILED", report["html"])
    if raise_on_failure:
        enforce(result, report["html"])
    return GateOutcome(result=result, data=data, report=report)


def build_period(config: CjmConfig, period: Period, personas: list[str] | None = None,
                 progress: Progress | None = None) -> tuple[dict[str, dict[str, Any]], GateOutcome]:
    """Read and validate the period's inputs, then build every persona's map (schema-checked).

    Raises :class:`~cjm_tasks.errors.ValidationFailed` before building when the gate fails.
    """
    from cjm_tasks.maps.journey import build_maps
    from cjm_tasks.maps.prepared import Inputs
    from cjm_tasks.models import check_map
    from cjm_tasks.run.lineage import lineage_of

    outcome = read_and_validate(config, period, progress)
    if progress:
        progress("building journey maps")
    inputs = Inputs(**{name: src.frame for name, src in outcome.data.items()})
    maps = build_maps(inputs, config, period, lineage_of(outcome.data, config), personas)
    for doc in maps.values():
        check_map(doc)
    return maps, outcome


def write_maps(maps: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``out_dir/<persona>.json`` for every map; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for persona, doc in maps.items():
        path = out_dir / f"{persona}.json"
        path.write_bytes(jsonio.dumps(doc))
        paths.append(path)
    return paths


def open_version_store(config: CjmConfig):
    """The version store at ``storage.versions`` (a folder or an S3 prefix)."""
    from cjm_tasks.versions.store import VersionStore

    return VersionStore(open_storage(config.storage.versions, config.s3))


STORAGE_KEYS = ("work", "versions", "site")


def check_locations(config: CjmConfig, keys: tuple[str, ...] = STORAGE_KEYS) -> None:
    """Check, writing nothing, that every ``storage.<key>`` can be written: a folder (or a path
    where one can be created) this user can write in, or an S3 bucket that exists and answers.
    Raises :class:`~cjm_tasks.storage.StorageError` naming the configuration file, the key and
    the location; a refresh calls it before its first write, so a bad location stops it before
    any version is stored."""
    for key in keys:
        try:
            open_storage(getattr(config.storage, key), config.s3).check_writable()
        except StorageError as exc:
            raise StorageError(f"{config.path}: storage.{key}: {exc}") from None


def check_persona_ids(config: CjmConfig, personas: list[str]) -> None:
    """Raise :class:`~cjm_tasks.ids.IdError` for a persona id that cannot be a folder and file name."""
    from cjm_tasks.ids import persona_id

    for persona in personas:
        persona_id(persona, f"{config.path}: personas")


def store_maps(config: CjmConfig, maps: dict[str, dict[str, Any]], run_id: str | None = None,
               until_published: bool = False) -> list[Any]:
    """Store every map as a version with its diff against the version before it.

    The diffs of one refresh are decided together (:func:`cjm_tasks.versions.diff.decide`): one
    false-discovery adjustment over every persona's barrier tests, so adding personas does not
    add false alarms. Returns a :class:`~cjm_tasks.versions.store.StoreResult` per persona
    (``created`` False when a revision with the same content already existed).

    Before the first write: the locations are checked (:func:`check_locations`), the persona ids
    too, temporary files interrupted writes left in the store are removed, and a marker says
    which personas run ``run_id`` is about to store (:meth:`~cjm_tasks.versions.store.VersionStore.begin`).
    The marker is removed when every map is stored, or with ``until_published`` only once the
    run has published (:func:`finish_run`); until then ``cjm versions verify`` reports the
    quarter as half-applied. Raises :class:`~cjm_tasks.storage.StorageError` when a location
    cannot be written.
    """
    import uuid

    from cjm_tasks.versions.diff import compare_maps, decide, diff_maps
    from cjm_tasks.versions.wording import summarize
    from cjm_tasks.periods import Period
    from cjm_tasks.versions.store import VersionId

    check_locations(config)
    check_persona_ids(config, list(maps))
    run_id = run_id or uuid.uuid4().hex
    store = open_version_store(config)
    removed = store.storage.remove_temporaries()
    if removed:
        log.warning("removed %d temporary file(s) interrupted writes left in %s", len(removed), store.storage.url())
    previous, raw = {}, []
    for persona, doc in maps.items():
        # The version before whatever revision this map becomes: the newest stored one up to its period.
        prev = store.latest_before(persona, VersionId(Period.parse(doc["period"]), 10**9))
        previous[persona] = prev
        old_version = prev.version if prev else None
        last_seen = store.last_seen(persona, old_version) if old_version else {}
        raw.append(compare_maps(store.read_map(prev) if prev else None, doc, config.diff, str(old_version) if prev else None, None, last_seen))
    decided = {d["persona"]: d for d in decide(raw, config.diff)}

    store.begin(run_id, maps)
    results = []
    for persona, doc in maps.items():
        def make_diff(previous_map, previous_version, version, persona=persona, doc=doc):
            expected = previous[persona]
            if (previous_version.version if previous_version else None) != (expected.version if expected else None):
                # Another run stored a version in between: compare with that one, on its own.
                seen = store.last_seen(persona, previous_version.version) if previous_version else {}
                return diff_maps(previous_map, doc, config.diff, str(previous_version.version) if previous_version else None, str(version), seen)
            diff = dict(decided[persona], to=str(version))
            diff["summary"] = summarize(diff)
            return diff

        results.append(store.store(doc, _checked(make_diff), run_id))
    if not until_published:
        store.finish(run_id)
    return results


def finish_run(config: CjmConfig, run_id: str) -> list[str]:
    """Run ``run_id`` has published: remove its refresh markers (and the earlier ones of its
    periods it supersedes) from the version store; returns their keys."""
    return open_version_store(config).finish(run_id)


def _checked(make_diff):
    """``make_diff`` whose result must match the diff model before it is stored."""
    from cjm_tasks.models import check_diff

    def make(*args):
        diff = make_diff(*args)
        check_diff(diff)  # validated as it is stored (written by jsonio.dumps)
        return diff

    return make


def stored_validations(config: CjmConfig, periods: list[str]) -> dict[str, dict[str, Any]]:
    """The saved gate result (validation.json) of every period that has one."""
    import json

    from cjm_tasks.storage import StorageError

    work = open_storage(config.storage.work, config.s3)
    found = {}
    for period in periods:
        try:
            found[period] = json.loads(work.read_bytes(f"{validation_prefix(Period.parse(period))}/validation.json"))
        except (StorageError, ValueError):
            continue
    return found


def render_site(config: CjmConfig, store=None) -> dict[str, bytes]:
    """The whole static site for every stored version: {relative path: bytes}.

    ``store``: an already open version store (default: the configured one).
    """
    from cjm_tasks.site.build import build_site
    from cjm_tasks.site.comparisons import list_comparisons

    store = store or open_version_store(config)
    periods = sorted({str(v.version.period) for v in store.list()})
    comparisons = list_comparisons(open_storage(config.storage.site, config.s3))
    return build_site(store, config, stored_validations(config, periods), comparisons)


def site_navigation(config: CjmConfig, store=None, published_only: bool = False):
    """How a publish draws the index and persona pages from what the site holds when it writes
    them (:class:`~cjm_tasks.site.build.SiteNavigation`; ``published_only`` for a comparison)."""
    from functools import partial

    from cjm_tasks.site.build import SiteNavigation

    return SiteNavigation(store or open_version_store(config), config, partial(stored_validations, config), published_only)


def publish(config: CjmConfig, period: Period | None = None, progress: Progress | None = None):
    """Render the site from the stored versions and publish it to ``storage.site``.

    With ``period``, first check that the store has versions of it (a clear error otherwise).
    Returns a :class:`~cjm_tasks.site.publish.PublishResult`.
    """
    from cjm_tasks.site.publish import publish_site
    from cjm_tasks.versions.store import VersionError

    check_locations(config, ("site",))
    store = open_version_store(config)
    if period is not None and not any(v.version.period == period for v in store.list()):
        raise VersionError(f"no stored version of {period} in {config.storage.versions}: run `cjm refresh --period {period}` first")
    if progress:
        progress("rendering the site")
    files = render_site(config, store)
    if progress:
        progress(f"publishing {len(files)} files")
    return publish_site(files, open_storage(config.storage.site, config.s3), site_navigation(config, store))


def publish_comparison(config: CjmConfig, persona: str, from_version: str, to_version: str) -> dict[str, Any]:
    """Compare any two stored versions of a persona and publish the comparison page
    (``compare/<persona>/<from>..<to>/`` in the site). Returns its address and the summary."""
    from cjm_tasks.versions.diff import diff_maps
    from cjm_tasks.site.publish import publish_site
    from cjm_tasks.site.build import comparison_folder, render_comparison

    store = open_version_store(config)
    old, new = store.resolve(persona, from_version), store.resolve(persona, to_version)
    diff = diff_maps(store.read_map(old), store.read_map(new), config.diff, str(old.version), str(new.version),
                     store.last_seen(persona, old.version))
    site = open_storage(config.storage.site, config.s3)
    # No period page among these files, so the latest pointer is left as it is; the index and the
    # persona pages are drawn again to list the comparison, from the versions the site shows.
    publish_site(render_comparison(store, config, persona, str(old.version), str(new.version), diff), site,
                 site_navigation(config, store, published_only=True))
    folder = comparison_folder(persona, str(old.version), str(new.version))
    return {"url": site.url(f"{folder}/index.html"), "summary": diff["summary"]}
