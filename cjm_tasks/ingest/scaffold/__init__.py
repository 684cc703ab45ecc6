"""Write a first configuration from samples of a project's own files (``cjm init``).

:func:`init_project` reads the first rows of each file it is given (CSV, JSON Lines, Parquet or
xlsx, by extension; a folder stands for the files in it), guesses how to read it (encoding,
delimiter, quote character, timestamp format, survey layout) and which column is which, and writes
``cjm.yaml``, ``stages.yaml``, ``personas.yaml`` and ``expectations.yaml`` beside copies of the
bundled barrier catalog and its examples. Every guess is commented with what it rests on
(``# 98% of 500 values parse as %d.%m.%Y %H:%M``); every place it could not guess carries exactly
one ``# TODO:`` comment, and the result lists them.

Guessing is by column names (in English and Russian) and by the values of the sample: nothing is
sent anywhere and no file is read beyond its first :data:`~cjm_tasks.ingest.scaffold.samples.SAMPLE_ROWS` rows.

The parts, in the order :func:`init_project` uses them: :mod:`.samples` reads a sample of each file,
:mod:`.columns` profiles its columns, :mod:`.sections` (with :mod:`.roles` and :mod:`.surveys`) plans
each source's section of cjm.yaml, :mod:`.documents` (with :mod:`.journey` and :mod:`.personas`)
builds the files, and :mod:`.writer` writes them as commented YAML; :mod:`.notes` collects the
guesses and TODOs on the way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cjm_tasks.errors import CjmError
from cjm_tasks.ingest.scaffold.columns import profile
from cjm_tasks.ingest.scaffold.documents import _documents
from cjm_tasks.ingest.scaffold.notes import Guess, Notes, Todo
from cjm_tasks.ingest.scaffold.roles import _customer_ids
from cjm_tasks.ingest.scaffold.samples import read_sample
from cjm_tasks.ingest.scaffold.sections import _plan

__all__ = ["Guess", "InitResult", "Todo", "init_project"]

log = logging.getLogger(__name__)
WRITTEN = ("cjm.yaml", "stages.yaml", "personas.yaml", "expectations.yaml", "barriers.yaml", "barrier_examples.yaml")


@dataclass
class InitResult:
    """What :func:`init_project` wrote and why: the files, the guesses, the TODOs and the first
    quarter found in the data (``None`` when no timestamp or file name told)."""

    out: Path
    files: list[Path]
    guesses: list[Guess]
    todos: list[Todo]
    first_period: str | None


def init_project(surveys: Path | None = None, reviews: Path | None = None, sales: Path | None = None,
                 customers: Path | None = None, *, out: Path, force: bool = False) -> InitResult:
    """Sample the given files and write a commented configuration into ``out``.

    At least one of ``surveys``, ``reviews`` and ``sales`` is needed. Raises :class:`CjmError`
    when none is given, a file does not exist or has an unknown extension, or ``out`` holds files
    and ``force`` is false; :class:`DataError` when a file cannot be read.
    """
    given = {"surveys": surveys, "reviews": reviews, "sales": sales, "customers": customers}
    given = {name: Path(path) for name, path in given.items() if path is not None}
    if not set(given) & {"surveys", "reviews", "sales"}:
        raise CjmError("give at least one of --surveys, --reviews, --sales")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CjmError(f"{out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CjmError(f"{out} is not empty: choose an empty folder, or pass --force to overwrite {', '.join(WRITTEN)} in it")
    for name, path in given.items():
        if not path.exists():
            raise CjmError(f"--{name}: {path} does not exist")
    notes = Notes()
    samples = {name: read_sample(name, path) for name, path in given.items()}
    profiles = {name: profile(sample.frame) for name, sample in samples.items()}
    known = _customer_ids(profiles)
    plans = {name: _plan(name, samples[name], profiles[name], out, notes, known) for name in given}
    documents = _documents(plans, out, notes)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in documents.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        files.append(path)
    log.info("cjm init wrote %d files into %s with %d TODOs", len(files), out, len(notes.todos))
    periods = sorted(p for plan in plans.values() for p in plan.quarters)
    return InitResult(out=out, files=files, guesses=notes.guesses, todos=notes.todos, first_period=periods[0] if periods else None)
