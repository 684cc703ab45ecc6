"""A run's workspace: every hand-off between the steps of one refresh, in one place.

``<storage.work>/runs/<run id>/`` (a folder or an S3 prefix) holds:

- ``config.json``: the configuration snapshot taken by the run's first step; every later step
  builds with it, so a retry after an edit of the YAML files builds with the configuration the
  maps' lineage names (``config_sha256``);
- ``inputs/<source>.parquet`` and ``.json``: each source as read, or why it could not be read;
- ``prepared/``: the texts and catalog matches tagged with their personas (sorted by persona, so a
  reader of one persona skips the others' row groups), every persona's stage counts, and the run's
  lineage (:mod:`cjm_tasks.run.prepared_io`);
- ``maps/<persona>.json`` and ``.worker`` (which worker built it);
- ``site/`` and ``site.json``: the rendered site;
- ``finished.json``: the run succeeded. Only such workspaces are ever removed, keeping the newest
  ``storage.keep_runs``; a failed run's workspace stays for inspection.

Sources cross as the Parquet files their reading streamed (an S3 workspace's are downloaded once
per run to ``<temp>/cjm-cache/<run id>/``, removed when the run finishes). A step writes only
its own keys, so rerunning it gives the same result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cjm_tasks import jsonio
from cjm_tasks.config import CjmConfig, S3Config
from cjm_tasks.errors import DataError
from cjm_tasks.ingest.canonical import ConversionIssue, InputFile, SourceData
from cjm_tasks.maps.prepared import Prepared
from cjm_tasks.run.prepared_io import load_prepared, save_prepared
from cjm_tasks.storage import Storage, key_part, open_storage

if TYPE_CHECKING:
    from pathlib import Path

SNAPSHOT = "config.json"
FINISHED = "finished.json"


def workspace_location(work: str, run_id: str) -> str:
    """``<work>/runs/<run id>``, the id made safe for paths."""
    return f"{work.rstrip('/')}/runs/{key_part(run_id)}"


def workspace_storage(config: CjmConfig, run_id: str) -> Storage:
    """The workspace of run ``run_id`` as a plain storage, to look at what a run left."""
    return open_storage(workspace_location(config.storage.work, run_id), config.s3)


REDACTED = "<kept out of the snapshot: read from the live configuration>"


class Workspace:
    """The hand-offs of one run (see the module's description).

    Open it with :meth:`create` (the run's first step: takes the configuration snapshot) or
    :meth:`open` (any later step, from the :attr:`handle` the first one returned).
    """

    def __init__(self, work: str, run_id: str, s3: S3Config):
        self.work, self.run_id, self.s3 = work, run_id, s3
        self.storage = open_storage(workspace_location(work, run_id), s3)
        self._config: CjmConfig | None = None

    @classmethod
    def create(cls, config: CjmConfig, run_id: str) -> Workspace:
        """The workspace of run ``run_id`` with ``config`` as its snapshot (replacing one an
        earlier attempt of the first step wrote). Its :meth:`config` is read back from the snapshot."""
        workspace = cls(config.storage.work, run_id, config.s3)
        doc = config.model_dump(mode="json")
        for source in doc["sources"].values():
            if (source.get("sql") or {}).get("url"):
                # A database URL may hold a password: it stays out of the work storage, and each
                # step reads it from the live configuration (it names where rows come from, not
                # what shapes the maps; the config hash leaves it out too).
                source["sql"]["url"] = REDACTED
        workspace.storage.write_bytes(SNAPSHOT, json.dumps(doc, indent=1, ensure_ascii=False).encode(), content_type="application/json")
        if workspace.config().sha256() != config.sha256():
            raise RuntimeError(f"the configuration snapshot at {workspace.storage.url(SNAPSHOT)} does not read back as the configuration it was taken of")
        return workspace

    @classmethod
    def open(cls, handle: dict[str, Any]) -> Workspace:
        """The workspace a :attr:`handle` names."""
        return cls(handle["work"], handle["run_id"], S3Config(**handle["s3"]))

    @property
    def handle(self) -> dict[str, Any]:
        """Where the workspace is, as plain values for an orchestrator to pass between tasks."""
        return {"work": self.work, "run_id": self.run_id, "s3": self.s3.model_dump()}

    def config(self) -> CjmConfig:
        """The run's configuration, from its snapshot (read once)."""
        if self._config is None:
            config = CjmConfig.model_validate_json(self.storage.read_bytes(SNAPSHOT))
            redacted = [n for n, s in config.sources.items() if s.sql is not None and s.sql.url == REDACTED]
            if redacted:
                from cjm_tasks.config import load_config

                live = load_config(config.path)
                sources = dict(config.sources)
                for name in redacted:
                    if name not in live.sources or live.sources[name].sql is None:
                        raise RuntimeError(f"source {name!r} reads a database whose URL the live configuration {config.path} no longer gives")
                    sources[name] = sources[name].model_copy(update={"sql": sources[name].sql.model_copy(update={"url": live.sources[name].sql.url})})
                config = config.model_copy(update={"sources": sources})
            self._config = config
        return self._config

    # ------------------------------------------------------------------ inputs

    @contextmanager
    def source_file(self, name: str) -> Iterator[Path]:
        """A local file to stream source ``name`` into, for :meth:`save_source` to keep: beside
        its place when the workspace is a local folder (then renamed into place, so the file
        appears whole), else a temporary file (then uploaded). What is left of it at the end of
        the block (after an error) is removed."""
        import os
        import tempfile
        from pathlib import Path

        target = self.storage.local_path(f"inputs/{name}.parquet")
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            path = target.with_name(f".{target.name}.partial")  # a hidden name: not listed as a key
        else:
            fd, tmp = tempfile.mkstemp(prefix=f"cjm-{name}-", suffix=".parquet")
            os.close(fd)
            path = Path(tmp)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def save_source(self, name: str, read: SourceData | DataError) -> str:
        """Keep a source as read, or the error that stopped its reading, for the gate to report;
        returns the key of its description (``inputs/<name>.json``: files, rows, issues,
        records). A source streamed to Parquet (:meth:`source_file`) has its file moved to
        ``inputs/<name>.parquet``."""
        from pathlib import Path

        meta: dict[str, Any] = {"source": name}
        if isinstance(read, DataError):
            meta["error"] = {"location": read.location, "detail": read.detail}
        else:
            if read.parquet is None:
                raise ValueError(f"source {name!r} was read into memory; the workspace keeps sources streamed to Parquet (stream_source)")
            size = Path(read.parquet).stat().st_size
            self.storage.move_file(f"inputs/{name}.parquet", Path(read.parquet))
            meta.update(rows=read.rows, parquet_bytes=size, rows_read=read.rows_read, rows_outside_period=read.rows_outside_period,
                        records=read.records, files=[vars(f) for f in read.files], issues=[vars(i) for i in read.issues])
        self.storage.write_bytes(f"inputs/{name}.json", jsonio.dumps(meta))
        return f"inputs/{name}.json"

    def load_sources(self, keys: list[str]) -> tuple[dict[str, SourceData], dict[str, DataError]]:
        """The sources :meth:`save_source` kept under ``keys`` (each with ``parquet``, a local
        file, and no frame), and those that could not be read. An S3 workspace's files are
        downloaded once per run into ``<temp>/cjm-cache/<run id>/`` (kept for the run's later
        steps on this machine: a file of the right size is not downloaded again)."""
        data, unreadable = {}, {}
        for key in keys:
            meta = json.loads(self.storage.read_bytes(key))
            name = meta["source"]
            if "error" in meta:
                unreadable[name] = DataError(name, meta["error"]["location"], meta["error"]["detail"])
                continue
            parquet = self._local_copy(f"inputs/{name}.parquet", meta["parquet_bytes"])
            data[name] = SourceData(name=name, frame=None, parquet=str(parquet), rows=meta["rows"],
                                    files=[InputFile(**f) for f in meta["files"]], rows_read=meta["rows_read"],
                                    rows_outside_period=meta["rows_outside_period"],
                                    issues=[ConversionIssue(**i) for i in meta["issues"]], records=meta.get("records"))
        return data, unreadable

    def cache_folder(self) -> Path:
        """Where this machine keeps the run's downloaded inputs (an S3 workspace's)."""
        import tempfile
        from pathlib import Path

        return Path(tempfile.gettempdir()) / "cjm-cache" / workspace_location(self.work, self.run_id).rsplit("/", 1)[1]

    def _local_copy(self, key: str, size: int) -> Path:
        """The file at ``key`` on this machine: in the workspace folder, or downloaded (in chunks,
        then renamed into place) to the run's cache folder."""
        import os
        import tempfile

        local = self.storage.local_path(key)
        if local is not None:
            return local
        target = self.cache_folder() / key
        if target.is_file() and target.stat().st_size == size:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in self.storage.read_chunks(key):
                    fh.write(chunk)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    # ------------------------------------------------------------------ prepared rows and lineage

    def save_prepared(self, prepared: Prepared, lineage: dict[str, Any]) -> None:
        save_prepared(prepared, prepared.personas(self.config()), self.storage, "prepared")
        self.storage.write_bytes("prepared/lineage.json", jsonio.dumps(lineage))

    def load_prepared(self, persona: str | None = None) -> Prepared:
        return load_prepared(self.storage, "prepared", persona)

    def lineage(self) -> dict[str, Any]:
        return json.loads(self.storage.read_bytes("prepared/lineage.json"))

    # ------------------------------------------------------------------ maps and site

    def save_map(self, persona: str, doc: dict[str, Any], worker: str) -> str:
        """Keep a persona's map and the name of the worker that built it; returns the map's key."""
        self.storage.write_bytes(f"maps/{persona}.json", jsonio.dumps(doc))
        self.storage.write_bytes(f"maps/{persona}.worker", worker.encode())
        return f"maps/{persona}.json"

    def load_maps(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The maps under ``keys``, by persona id."""
        docs = [json.loads(self.storage.read_bytes(key)) for key in keys]
        return {doc["persona"]["id"]: doc for doc in docs}

    def save_site(self, files: dict[str, bytes]) -> str:
        """Keep the rendered site; returns the key of its list of files."""
        for path, data in files.items():
            self.storage.write_bytes(f"site/{path}", data)
        self.storage.write_bytes("site.json", jsonio.dumps(sorted(files)))
        return "site.json"

    def load_site(self, key: str) -> dict[str, bytes]:
        return {path: self.storage.read_bytes(f"site/{path}") for path in json.loads(self.storage.read_bytes(key))}

    # ------------------------------------------------------------------ the end of a run

    def finish(self) -> list[str]:
        """Mark the run successful and drop its local cache, then remove the workspaces of
        successful runs beyond the newest ``storage.keep_runs`` (this one included when it is 0);
        returns their folders."""
        import shutil

        self.storage.write_bytes(FINISHED, jsonio.dumps({"run_id": self.run_id, "finished_at": datetime.now(timezone.utc).isoformat()}))
        shutil.rmtree(self.cache_folder(), ignore_errors=True)
        return prune_workspaces(open_storage(f"{self.work.rstrip('/')}/runs", self.s3), self.config().storage.keep_runs)


def prune_workspaces(runs: Storage, keep: int) -> list[str]:
    """Remove the finished workspaces in ``runs`` (``<work>/runs``) but the newest ``keep``;
    workspaces without ``finished.json`` (failed or still running) are left alone. The marker
    goes last, so an interrupted removal is finished by the next one."""
    folders: dict[str, list[str]] = {}
    for key in runs.list():
        folders.setdefault(key.split("/", 1)[0], []).append(key)
    finished = sorted(((json.loads(runs.read_bytes(f"{folder}/{FINISHED}"))["finished_at"], folder)
                       for folder, keys in folders.items() if f"{folder}/{FINISHED}" in keys), reverse=True)
    removed = [folder for _, folder in finished[keep:]]
    for folder in removed:
        marker = f"{folder}/{FINISHED}"
        runs.delete([k for k in folders[folder] if k != marker])
        runs.delete([marker])
    return removed
