"""The refresh as task-sized steps, for orchestrators (the Airflow DAGs call these by name).

Every step takes plain arguments (a config path, a period, a run id, keys) and returns a key or a
small summary; data moves between steps through the run's workspace,
``<storage.work>/runs/<run id>/`` (a folder or an S3 prefix), never through the orchestrator.
A step writes only its own files in the workspace, so rerunning it gives the same result.

The same library functions run the CLI's ``cjm refresh`` in one process (``cjm_tasks.run.pipeline``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from cjm_tasks import jsonio
from cjm_tasks.config import CjmConfig, load_config
from cjm_tasks.errors import CjmError, DataError
from cjm_tasks.periods import Period
from cjm_tasks.storage import Storage, open_storage

log = logging.getLogger(__name__)


class StepError(CjmError):
    """A step called with arguments it cannot work with."""


def _config(config_path: str | None) -> CjmConfig:
    return load_config(config_path or None)


def workspace(config: CjmConfig, run_id: str) -> Storage:
    """The run's workspace: ``<storage.work>/runs/<run id>`` (the id made safe for paths)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("_") or "run"
    root = config.storage.work.rstrip("/")
    return open_storage(f"{root}/runs/{safe}", config.s3)


def resolve_period(data_interval_start: str | None = None, period: str | None = None) -> str:
    """The quarter a run refreshes: the ``period`` param when given, else the quarter of the
    data interval's start (a scheduled run's interval is the quarter just ended)."""
    if period:
        return str(Period.parse(period))
    if data_interval_start:
        return str(Period.containing(datetime.fromisoformat(str(data_interval_start))))
    raise StepError("a run without a data interval (triggered by hand) needs the 'period' param, e.g. 2025Q3")


def list_sources(config_path: str | None, period: str) -> list[str]:
    """The configured sources to read for ``period`` (one read task each)."""
    Period.parse(period)
    return list(_config(config_path).sources)


def read_source(config_path: str | None, period: str, run_id: str, source: str) -> str:
    """Read one source for the period into the workspace (``inputs/<source>.parquet`` and its
    description). A file that cannot be read is recorded for the gate to report, not raised."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cjm_tasks.ingest.sources import read_source as read

    config = _config(config_path)
    ws = workspace(config, run_id)
    meta: dict[str, Any] = {"source": source}
    try:
        data = read(source, config, Period.parse(period))
    except DataError as exc:
        meta["error"] = {"location": exc.location, "detail": exc.detail}
    else:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(data.frame, preserve_index=True), buffer)
        ws.write_bytes(f"inputs/{source}.parquet", buffer.getvalue())
        meta.update(rows_read=data.rows_read, rows_outside_period=data.rows_outside_period, records=data.records,
                    files=[vars(f) for f in data.files], issues=[vars(i) for i in data.issues])
    ws.write_bytes(f"inputs/{source}.json", jsonio.dumps(meta))
    return f"inputs/{source}.json"


def _load_sources(ws: Storage, keys: list[str]):
    """SourceData objects back from the workspace, plus the sources that could not be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cjm_tasks.ingest.sources import ConversionIssue, InputFile, SourceData

    data, unreadable = {}, {}
    for key in keys:
        meta = json.loads(ws.read_bytes(key))
        name = meta["source"]
        if "error" in meta:
            unreadable[name] = DataError(name, meta["error"]["location"], meta["error"]["detail"])
            continue
        frame = pq.read_table(pa.BufferReader(ws.read_bytes(key.replace(".json", ".parquet")))).to_pandas()
        data[name] = SourceData(name=name, frame=frame, files=[InputFile(**f) for f in meta["files"]], rows_read=meta["rows_read"],
                                rows_outside_period=meta["rows_outside_period"], issues=[ConversionIssue(**i) for i in meta["issues"]],
                                records=meta.get("records"))
    return data, unreadable


def validate_sources(config_path: str | None, period: str, run_id: str, source_keys: list[str]) -> dict[str, Any]:
    """The validation gate over every source read for the run; raises
    :class:`~cjm_tasks.errors.ValidationFailed` (with the failed checks) when it fails."""
    from cjm_tasks.run.pipeline import gate

    config = _config(config_path)
    data, unreadable = _load_sources(workspace(config, run_id), list(source_keys))
    outcome = gate(config, Period.parse(period), data, unreadable)
    return {"period": period, "checks": outcome.result.check_count, "report": outcome.report["html"]}


def prepare_personas(config_path: str | None, period: str, run_id: str, source_keys: list[str]) -> list[str]:
    """Assign personas and tag every row once (``prepared/``); return the personas to build."""
    from cjm_tasks.maps.journey import Inputs, lineage_of, prepare, save_prepared

    config = _config(config_path)
    ws = workspace(config, run_id)
    data, unreadable = _load_sources(ws, list(source_keys))
    if unreadable:
        raise StepError(f"sources {', '.join(unreadable)} could not be read; the validation gate should have stopped the run")
    prepared = prepare(Inputs(**{name: src.frame for name, src in data.items()}), config)
    save_prepared(prepared, ws, "prepared")
    ws.write_bytes("prepared/lineage.json", jsonio.dumps(lineage_of(data, config)))
    return prepared.personas(config)


def build_map(config_path: str | None, period: str, run_id: str, persona: str) -> str:
    """One persona's map from the prepared tables (its rows only), schema-checked, in
    ``maps/<persona>.json``; returns that key."""
    from cjm_tasks.maps.journey import check_map, load_prepared, maps_from

    config = _config(config_path)
    ws = workspace(config, run_id)
    lineage = json.loads(ws.read_bytes("prepared/lineage.json"))
    doc = maps_from(load_prepared(ws, "prepared", persona), config, Period.parse(period), lineage, [persona])[persona]
    check_map(json.loads(jsonio.dumps(doc)))
    ws.write_bytes(f"maps/{persona}.json", jsonio.dumps(doc))
    # Which worker built it (CJM_WORKER_NAME, else the host name): provenance for scaled-out runs.
    ws.write_bytes(f"maps/{persona}.worker", worker_name().encode())
    return f"maps/{persona}.json"


def worker_name() -> str:
    import os
    import socket

    return os.environ.get("CJM_WORKER_NAME") or socket.gethostname()


def store_versions(config_path: str | None, run_id: str, map_keys: list[str]) -> list[dict[str, Any]]:
    """Store every built map of the run as a version with its diff (no new revision for the same
    content). One task for all personas: their diffs share one false-discovery adjustment."""
    from cjm_tasks.run.pipeline import store_maps

    config = _config(config_path)
    ws = workspace(config, run_id)
    docs = [json.loads(ws.read_bytes(key)) for key in map_keys]
    results = store_maps(config, {doc["persona"]["id"]: doc for doc in docs}, run_id)
    return [{"persona": r.persona, "version": str(r.version), "created": r.created} for r in results]


def render_site(config_path: str | None, run_id: str, stored: list[dict[str, Any]] | None = None) -> str:
    """Render the whole site from the version store into the workspace (``site/``); returns
    the key of the list of rendered files."""
    from cjm_tasks.run.pipeline import render_site as render

    config = _config(config_path)
    ws = workspace(config, run_id)
    files = render(config)
    for path, data in files.items():
        ws.write_bytes(f"site/{path}", data)
    ws.write_bytes("site.json", jsonio.dumps(sorted(files)))
    return "site.json"


def publish_site(config_path: str | None, run_id: str, rendered_key: str) -> dict[str, Any]:
    """Publish the rendered site (version pages, then period pages and index, latest pointer last)."""
    from cjm_tasks.site.publish import publish_site as publish

    config = _config(config_path)
    ws = workspace(config, run_id)
    files = {path: ws.read_bytes(f"site/{path}") for path in json.loads(ws.read_bytes(rendered_key))}
    result = publish(files, open_storage(config.storage.site, config.s3))
    return {"url": result.url, "latest": result.latest, "written": len(result.written), "kept": len(result.kept)}


def notify(config_path: str | None, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """Send the summary of flagged changes and the report link (log by default, SMTP if configured)."""
    from cjm_tasks.run.notify import send_summary

    return send_summary(_config(config_path), period, list(stored), published)


def compare_versions(config_path: str | None, persona: str, from_version: str, to_version: str) -> dict[str, Any]:
    """Compare any two stored versions of a persona and publish the comparison page."""
    from cjm_tasks.run.pipeline import publish_comparison

    return publish_comparison(_config(config_path), persona, from_version, to_version)
