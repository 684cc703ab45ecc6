"""Whether a quarter's inputs are there to be read, before anything is read.

A file source is there when its location, for the period, matches a file: what reading will read
(:func:`~cjm_tasks.ingest.sources.source_files`, the library's one listing of a source's files,
local or ``s3://``, globs included). A source that declares a ``marker`` (a file its exporter
writes once the period's files are complete, e.g. ``_SUCCESS``) is there only when the marker is
too; without a marker, one matching file is enough. A SQL source is not checked: its rows are
there when its query runs.

The Airflow run waits on this check (its ``wait_for_inputs`` task repeats it, holding no worker
slot in between); ``cjm refresh`` checks once and stops with the same list.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cjm_tasks.config.main import human_duration
from cjm_tasks.errors import CjmError, MissingInput
from cjm_tasks.ingest.sources import location_for, normal_location, source_files
from cjm_tasks.storage import StorageError, expand_location

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig
    from cjm_tasks.periods import Period

log = logging.getLogger(__name__)

NO_FILE = "no file matches this location"
NO_MARKER = "the marker that declares its files complete is not there yet"


class InputsMissing(CjmError):
    """Inputs of a period are missing: ``missing`` lists each (a :class:`MissingInput`: the
    source, the location or marker, what is missing). ``waited``: how long a run waited for
    them, its ``wait.timeout`` (None: it did not wait)."""

    exit_code = 1

    def __init__(self, period: str, missing: list[MissingInput], waited: float | None = None):
        self.period, self.missing, self.waited = period, missing, waited
        head = (f"{period}: {len(missing)} input(s) missing, nothing was read" if waited is None else
                f"{period}: {len(missing)} input(s) still missing after waiting {human_duration(waited)} (wait.timeout)")
        super().__init__(head + "\n" + "\n".join(f"  - {m}" for m in missing))


def missing_inputs(config: CjmConfig, period: Period) -> list[MissingInput]:
    """What of ``period``'s inputs is not there yet, one :class:`MissingInput` per source in
    configuration order (empty: every input is there). A location that cannot be listed (an S3
    server that does not answer, access denied) is reported as missing, with the reason: it may
    answer at the next check."""
    missing = []
    for name, source in config.sources.items():
        if source.format == "sql":
            continue
        try:
            listing = source_files(source, period, config.s3)
            if not listing.files:
                missing.append(MissingInput(name, listing.location, NO_FILE))
            elif listing.marker and not _exists(listing.marker, config):
                missing.append(MissingInput(name, listing.marker, NO_MARKER))
        except StorageError as exc:
            missing.append(MissingInput(name, location_for(source, period), f"cannot be listed: {exc}"))
    return missing


def check_inputs(config: CjmConfig, period: Period) -> None:
    """Raise :class:`InputsMissing` listing what of ``period``'s inputs is missing, if anything
    (:func:`missing_inputs`); the check a run makes before it reads."""
    missing = missing_inputs(config, period)
    if missing:
        raise InputsMissing(str(period), missing)
    log.info("%s: every input is there (%d file source(s) checked)", period, sum(s.format != "sql" for s in config.sources.values()))


def _exists(location: str, config: CjmConfig) -> bool:
    """Whether the file ``location`` names exists (listed as reading lists, so a folder of that name is not it)."""
    return any(normal_location(display) == location for display, _, _ in expand_location(location, config.s3))
