"""The steps of a refresh: ``cjm refresh`` runs them in order in one process (:func:`refresh`),
and each task of the Airflow DAG runs the one of its name (through :mod:`cjm_tasks.run.airflow`).

The first step, :func:`snapshot_config`, writes the configuration into the run's workspace
(:class:`~cjm_tasks.run.workspace.Workspace`); every later step takes that workspace and plain
values (a period, workspace keys), builds with the snapshot, and returns a key or a result the
orchestrator can pass on as a small summary (:func:`summary`). Data moves between steps through
the workspace, never through the orchestrator. A step writes only its own keys, so rerunning it
gives the same result.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cjm_tasks import ids
from cjm_tasks.config import CjmConfig, load_config
from cjm_tasks.errors import CjmError, DataError, MissingInput
from cjm_tasks.periods import Period
from cjm_tasks.run.pipeline import (Progress, check_locations, check_persona_ids, finish_run, gate, open_version_store,
                                    publish_comparison, render_site as render, store_maps)
from cjm_tasks.run.workspace import Workspace
from cjm_tasks.site.publish import PublishResult
from cjm_tasks.storage import open_storage
from cjm_tasks.versions.store import StoreResult

if TYPE_CHECKING:
    from cjm_tasks.maps.prepared import Prepared

log = logging.getLogger(__name__)


class StepError(CjmError):
    """A step called with arguments it cannot work with."""


def resolve_period(data_interval_start: str | None = None, period: str | None = None) -> str:
    """The quarter a run refreshes: the ``period`` param when given, else the quarter of the
    data interval's start (a scheduled run's interval is the quarter just ended). A period after
    the current quarter is refused (:func:`cjm_tasks.ids.refreshable_period`)."""
    if period:
        return str(ids.refreshable_period(period, "period"))
    if data_interval_start:
        return str(Period.containing(datetime.fromisoformat(str(data_interval_start))))
    raise StepError("a run without a data interval (triggered by hand) needs the 'period' param, e.g. 2025Q3")


def snapshot_config(config_path: str | None, run_id: str) -> dict[str, Any]:
    """The run's first step: load the configuration (``config_path``, else ``CJM_CONFIG``, else
    the bundled one), check what can be checked before writing (:func:`check_before_writing`),
    and snapshot it into the run's workspace; returns the workspace's handle for the next steps."""
    config = load_config(config_path or None)
    check_before_writing(config)
    return Workspace.create(config, run_id).handle


def check_before_writing(config: CjmConfig) -> None:
    """What a refresh checks before its first write: every storage location can be written
    (:func:`~cjm_tasks.run.pipeline.check_locations`) and every persona id can be a folder and
    file name. Raises the :class:`~cjm_tasks.errors.CjmError` that says what is wrong."""
    check_locations(config)
    check_persona_ids(config, [persona.id for persona in config.personas.personas] + ["all"])


def unfinished_refreshes(config: CjmConfig, period: Period) -> list[str]:
    """What earlier refreshes of ``period`` left half-applied (stored some personas, or all but
    did not publish), described; a refresh of the period then runs whatever the inputs, to complete it."""
    return [unfinished.describe() for unfinished in open_version_store(config).unfinished(period)]


def check_unchanged(workspace: Workspace, period: str, force: bool = False) -> dict[str, Any]:
    """Whether the quarter is unchanged since its stored versions, judged with the run's
    configuration snapshot (:func:`cjm_tasks.run.unchanged.compare_with_stored`); returns the
    answer as plain values ({"unchanged", "reasons", "message", ...}). An unchanged quarter's run
    has nothing left to do, so its workspace is removed here. ``force`` skips the check."""
    from cjm_tasks.run.unchanged import UnchangedCheck, compare_with_stored
    from cjm_tasks.run.workspace import SNAPSHOT, workspace_location

    if force:
        log.info("%s: forced, rebuilt whether or not anything changed", period)
        return UnchangedCheck(period, False, ["forced"]).summary()
    unfinished = unfinished_refreshes(workspace.config(), Period.parse(period))
    if unfinished:
        log.warning("rebuilt to complete what an earlier refresh left: %s", "; ".join(unfinished))
        return UnchangedCheck(period, False, unfinished).summary()
    check = compare_with_stored(workspace.config(), Period.parse(period))
    if check.unchanged:
        log.info("%s; nothing built, stored or published", check.describe())
        # Removed from <work>/runs so the run's folder goes too; the snapshot last, so a retry
        # of an interrupted removal still finds the configuration.
        folder = workspace_location(workspace.work, workspace.run_id).rsplit("/", 1)[1]
        runs = open_storage(f"{workspace.work.rstrip('/')}/runs", workspace.s3)
        runs.delete(sorted((f"{folder}/{key}" for key in workspace.storage.list()), key=lambda key: key.endswith(f"/{SNAPSHOT}")))
    return check.summary()


def list_sources(workspace: Workspace) -> list[str]:
    """The configured sources (one read each)."""
    return list(workspace.config().sources)


def wait_for_inputs(workspace: Workspace, period: str, waited: float = 0.0) -> dict[str, Any]:
    """One check of a run's wait for the quarter's inputs (the orchestrator repeats it every
    ``wait.poke_every``, holding no worker in between: :mod:`cjm_tasks.run.airflow_wait`): whether
    every input of ``period`` is there (:func:`~cjm_tasks.ingest.readiness.missing_inputs`) after
    ``waited`` seconds of waiting. Returns {"period", "ready", "missing": [one line per missing
    input], "next_check": seconds until the next check (None when ready)}. Raises
    :class:`~cjm_tasks.ingest.readiness.InputsMissing`, listing what is missing, once ``waited``
    reaches ``wait.timeout``."""
    from cjm_tasks.config.main import human_duration
    from cjm_tasks.ingest.readiness import InputsMissing, missing_inputs

    config = workspace.config()
    missing = missing_inputs(config, Period.parse(period))
    if not missing:
        log.info("%s: every input is there", period)
        return {"period": period, "ready": True, "missing": [], "next_check": None}
    if waited >= config.wait.timeout:
        raise InputsMissing(period, missing, config.wait.timeout)
    next_check = min(config.wait.poke_every, config.wait.timeout - waited)
    log.info("%s: waiting for %d input(s): %s; next check in %s (waited %s of %s)", period, len(missing), "; ".join(map(str, missing)),
             human_duration(next_check), human_duration(waited), human_duration(config.wait.timeout))
    return {"period": period, "ready": False, "missing": [str(m) for m in missing], "next_check": next_check}


def read_source(workspace: Workspace, period: str, source: str) -> str:
    """Stream one source for the period into the workspace as canonical Parquet (never more than
    a batch in memory); returns its key. A source that cannot be read is recorded for the gate to
    report with the others, not raised; but a source without any file for the quarter raises
    :class:`~cjm_tasks.errors.MissingInput` here: there is nothing of it to check."""
    from cjm_tasks.ingest.sources import stream_source

    with workspace.source_file(source) as path:
        try:
            data: Any = stream_source(source, workspace.config(), Period.parse(period), path)
        except MissingInput:
            raise
        except DataError as exc:
            data = exc
        return workspace.save_source(source, data)


def read_sources(workspace: Workspace, period: str, sources: list[str]) -> list[str]:
    """:func:`read_source` of every source, as the DAG's parallel ``read_source`` tasks do: in
    threads, as many as there are cores (pyarrow parses, converts and compresses without holding
    the interpreter; at workload L four sources take 3.6 s instead of 4.7 s on two cores). Keys
    in the order of ``sources``; the first source's error, in that order, is raised once every
    read has ended."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(len(sources), os.cpu_count() or 1))
    if workers == 1:
        return [read_source(workspace, period, source) for source in sources]
    with ThreadPoolExecutor(workers, thread_name_prefix="cjm-read") as pool:
        # Each read in a copy of this context: the S3 access handed to the step reaches the threads.
        futures = [pool.submit(contextvars.copy_context().run, read_source, workspace, period, source) for source in sources]
    return [future.result() for future in futures]


def validate_sources(workspace: Workspace, period: str, source_keys: list[str]) -> dict[str, Any]:
    """The validation gate over every source read for the run (its report goes to the work
    storage); raises :class:`~cjm_tasks.errors.ValidationFailed`, with the failed checks, when it fails."""
    data, unreadable = workspace.load_sources(list(source_keys))
    outcome = gate(workspace.config(), Period.parse(period), data, unreadable)
    return {"period": period, "checks": outcome.result.check_count, "report": outcome.report["html"]}


def prepare_personas(workspace: Workspace, source_keys: list[str]) -> list[str]:
    """Assign personas, count every persona's stage metrics in the engine and analyse the texts
    once, with the run's lineage, into the workspace (each ``build_map`` task reads its persona's
    slice); returns the personas to build."""
    prepared, lineage = _prepared(workspace, source_keys)
    workspace.save_prepared(prepared, lineage)
    return prepared.personas(workspace.config())


def _prepared(workspace: Workspace, source_keys: list[str]) -> tuple[Prepared, dict[str, Any]]:
    from cjm_tasks.engine import open_engine
    from cjm_tasks.engine.inputs import register_sources
    from cjm_tasks.maps.prepared import prepare
    from cjm_tasks.run.lineage import lineage_of

    config = workspace.config()
    data, unreadable = workspace.load_sources(list(source_keys))
    if unreadable:
        raise StepError(f"sources {', '.join(unreadable)} could not be read; the validation gate should have stopped the run")
    with open_engine(config) as engine:
        register_sources(engine, data)
        return prepare(engine, config), lineage_of(data, config)


def build_map(workspace: Workspace, period: str, persona: str) -> str:
    """One persona's map from the prepared tables (its rows only), schema-checked; returns its key."""
    from cjm_tasks.maps.journey import maps_from
    from cjm_tasks.models import check_map

    config = workspace.config()
    doc = maps_from(workspace.load_prepared(persona), config, Period.parse(period), workspace.lineage(), [persona])[persona]
    check_map(doc)
    log_map(doc)
    return workspace.save_map(persona, doc, worker_name())


def log_map(doc: dict[str, Any]) -> None:
    """One INFO line on a map just built: its persona, period, customers and barrier counts by kind."""
    s = doc["summary"]
    counts = s["barriers"]
    log.info("built the %s map of %s: %s customers, %d barriers (%d catalog, %d metric, %d emerging)", doc["persona"]["id"],
             doc["period"], s["customers"], counts["total"], counts["catalog"], counts["metric"], counts["emerging"])


def build_maps(workspace: Workspace, period: str, source_keys: list[str]) -> list[str]:
    """``prepare_personas`` then every ``build_map`` in one process, without the round trip
    through the workspace: the prepared quarter stays in memory and the work the personas share
    (every text's word pairs) is done once. The maps are those the tasks build; returns their keys."""
    from cjm_tasks.maps.journey import maps_from
    from cjm_tasks.models import check_map

    prepared, lineage = _prepared(workspace, source_keys)
    docs = maps_from(prepared, workspace.config(), Period.parse(period), lineage)
    del prepared
    keys = []
    for persona, doc in docs.items():
        check_map(doc)
        log_map(doc)
        keys.append(workspace.save_map(persona, doc, worker_name()))
    return keys


def worker_name() -> str:
    """Which worker builds (``CJM_WORKER_NAME``, else the host name): provenance for scaled-out runs."""
    return os.environ.get("CJM_WORKER_NAME") or socket.gethostname()


def store_versions(workspace: Workspace, map_keys: list[str]) -> list[StoreResult]:
    """Store every built map of the run as a version with its diff (no new revision for the same
    content). One step for all personas: their diffs share one false-discovery adjustment. The
    run's marker stays in the store until :func:`publish_site` (see :func:`~cjm_tasks.run.pipeline.store_maps`),
    so a run stopped between the two is reported by ``cjm versions verify`` and completed by the
    next refresh of the quarter (or by this step's retry)."""
    return store_maps(workspace.config(), workspace.load_maps(list(map_keys)), workspace.run_id, until_published=True)


def render_site(workspace: Workspace) -> str:
    """Render the whole site from the version store into the workspace; returns the key of its list of files."""
    return workspace.save_site(render(workspace.config()))


def publish_site(workspace: Workspace, rendered_key: str) -> PublishResult:
    """Publish the rendered site (version pages, then period pages and index, latest pointer last);
    the index and persona pages list the comparisons the site holds when they are written."""
    from cjm_tasks.run.pipeline import site_navigation
    from cjm_tasks.site.publish import publish_site as publish

    config = workspace.config()
    result = publish(workspace.load_site(rendered_key), open_storage(config.storage.site, config.s3), site_navigation(config))
    finish_run(config, workspace.run_id)
    return result


def notify(workspace: Workspace, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """Log the summary of flagged changes and the report link, from the :func:`summary` of what
    was stored and published, and save it for the run's success callback, which sends it
    (:func:`cjm_tasks.run.notify.record_summary`); returns the summary."""
    from cjm_tasks.run.notify import record_summary

    return record_summary(workspace.config(), workspace.run_id, period, list(stored), published)


def clean_workspaces(workspace: Workspace) -> list[str]:
    """The run succeeded: mark it so, and remove the workspaces of successful runs but the newest
    ``storage.keep_runs``; returns the removed run folders."""
    from cjm_tasks.run.notify import drop_notices
    from cjm_tasks.storage import key_part

    removed = workspace.finish()
    if removed:
        log.info("removed the workspaces of %d run(s): %s", len(removed), ", ".join(removed))
    # This run's notice stays for its success callback, which runs after this task, even when
    # keep_runs is 0.
    drop_notices(workspace.config(), key_part(workspace.run_id))
    return removed


def compare_versions(config_path: str | None, persona: str, from_version: str, to_version: str) -> dict[str, Any]:
    """Compare any two stored versions of a persona and publish the comparison page; the index
    and the persona's page list it from then on."""
    ids.persona_id(persona, "persona")
    ids.version_ref(from_version, "from_version")
    ids.version_ref(to_version, "to_version")
    result = publish_comparison(load_config(config_path or None), persona, from_version, to_version)
    log.info("comparison page published: %s", result["url"])
    return result


def summary(result: Any) -> Any:
    """A step's result as the small JSON value an orchestrator passes on (keys and counts, no payloads)."""
    if isinstance(result, list):
        return [summary(item) for item in result]
    if isinstance(result, StoreResult):
        return {"persona": result.persona, "version": str(result.version), "created": result.created}
    if isinstance(result, PublishResult):
        return {"url": result.url, "latest": result.latest, "written": len(result.written), "kept": len(result.kept)}
    return result


def refresh(config: CjmConfig, period: Period, run_id: str | None = None, progress: Progress | None = None,
            force: bool = False) -> dict[str, Any]:
    """The whole refresh of ``period`` in this process, step by step as the DAG runs it: check
    whether the quarter is unchanged since its stored versions, then read, validate, prepare and
    build every persona's map (:func:`build_maps`: the DAG's ``prepare_personas`` and
    ``build_map`` tasks without the workspace between them), store versions with their diffs,
    render and publish the site (last), remove old workspaces, and send the summary on the
    configured channels (:func:`cjm_tasks.run.notify.send_summary`; an unchanged quarter sends
    that it is unchanged). ``run_id`` defaults to a new random id.

    First, what can be checked before writing is (:func:`check_before_writing`: a location that
    cannot be written, a persona id that cannot be a file name raise before anything is written).
    An unchanged quarter stops at the check: nothing is built, stored or published and no
    workspace is made; ``force`` rebuilds it anyway (skipping the check), and so does a quarter
    an earlier refresh left half-applied (:func:`unfinished_refreshes`), which this one completes.

    Then, before reading, every input of the quarter must be there (the check the DAG's
    ``wait_for_inputs`` task waits on): else :class:`~cjm_tasks.ingest.readiness.InputsMissing`
    lists what is missing, at once, and no workspace is made.

    Returns {"period", "unchanged": bool, "check": the check's answer (None when forced)} and,
    when it ran, "versions": [StoreResult], "validation": the gate's summary, "site": PublishResult.
    Raises :class:`~cjm_tasks.errors.ValidationFailed` before anything is stored or published
    when the gate fails (the run's workspace is kept).
    """
    from cjm_tasks.run.notify import send_notice, send_summary, unchanged_notice
    from cjm_tasks.ingest.readiness import check_inputs
    from cjm_tasks.run.unchanged import compare_with_stored

    def say(what: str) -> None:
        if progress:
            progress(what)

    check_before_writing(config)
    check = None
    unfinished = unfinished_refreshes(config, period)
    if unfinished:
        log.warning("rebuilt to complete what an earlier refresh left: %s", "; ".join(unfinished))
    elif not force:
        say("checking whether anything changed")
        check = compare_with_stored(config, period).summary()
        if check["unchanged"]:
            log.info("%s; nothing built, stored or published", check["message"])
            if config.notify.channels:
                send_notice(config, unchanged_notice(config, str(period)))
            return {"period": str(period), "unchanged": True, "check": check}
    say("checking the inputs are there")
    check_inputs(config, period)  # the list the Airflow run waits on; the CLI does not wait
    workspace = Workspace.create(config, run_id or uuid.uuid4().hex)
    say("reading the sources")
    keys = read_sources(workspace, str(period), list_sources(workspace))
    say("validating the inputs")
    validation = validate_sources(workspace, str(period), keys)
    say("preparing personas and building journey maps")
    maps = build_maps(workspace, str(period), keys)
    say("storing versions")
    versions = store_versions(workspace, maps)
    say("rendering the site")
    rendered = render_site(workspace)
    say("publishing the site")
    site = publish_site(workspace, rendered)
    clean_workspaces(workspace)
    say("sending the summary")
    send_summary(config, str(period), summary(versions), summary(site))
    return {"period": str(period), "unchanged": False, "check": check, "versions": versions, "validation": validation, "site": site}
