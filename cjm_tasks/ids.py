"""The one check of every user-supplied persona id, period and version reference.

A persona id, a period and a version become folder names, file names and S3 keys in the store,
the run workspace and the site, so whatever a user types (a CLI option, an Airflow param, a
configuration key) passes through these functions before it reaches a path:

- persona id: 1 to :data:`MAX_PERSONA_ID` characters among ``a-z``, ``0-9``, ``_`` and ``-``. The
  limit leaves room, within a file name's 255 bytes and an S3 key's 1,024, for what the store,
  the workspace and the site add around it (``.<id>.worker.<random>.tmp``, ``maps/<id>/2025Q3/r12/``).
- period: a quarter ``YYYYQn`` with a year in 1900..2999 (see :mod:`cjm_tasks.periods`) and n in 1..4;
  a quarter to refresh is also no later than the current one (:func:`refreshable_period`).
- version reference: a period (its latest revision) or ``YYYYQn-rN`` with N >= 1.

Each raises :class:`IdError` (exit code 2) saying what was expected. It is also a ``ValueError``,
so a pydantic validator that calls these functions reports it at the configuration key.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from cjm_tasks.errors import CjmError
from cjm_tasks.periods import Period, PeriodError

MAX_PERSONA_ID = 64
MAX_REVISION_DIGITS = 6

_PERSONA_RE = re.compile(r"[a-z0-9_-]+")
_VERSION_RE = re.compile(r"(?P<period>[0-9]{4}Q[1-4])(?:-[rR](?P<revision>[0-9]+))?")
_SHOWN = 40  # characters of a refused value shown in the message: enough to recognise it


class IdError(CjmError, ValueError):
    """A persona id, period or version reference that cannot be used."""

    exit_code = 2


class VersionRef(NamedTuple):
    """``2025Q3-r2``: a period and a revision; revision None means the period's latest."""

    period: Period
    revision: int | None = None

    def __str__(self) -> str:
        return str(self.period) if self.revision is None else f"{self.period}-r{self.revision}"


def shown(text: object) -> str:
    """``text`` as a refused value is quoted in a message: repr (control characters visible), cut short."""
    value = repr(text)
    return value if len(value) <= _SHOWN else f"{value[:_SHOWN]}..."


def _fail(where: str | None, message: str) -> IdError:
    return IdError(f"{where}: {message}" if where else message)


def persona_id(text: object, where: str | None = None) -> str:
    """``text`` when it is a usable persona id; raises :class:`IdError` naming ``where`` otherwise."""
    expected = f"expected 1 to {MAX_PERSONA_ID} characters among a-z, 0-9, '_' and '-'"
    if not isinstance(text, str):
        raise _fail(where, f"a persona id must be text, got {type(text).__name__} ({expected})")
    if len(text) > MAX_PERSONA_ID:
        raise _fail(where, f"persona id {shown(text)} is too long: {len(text):,} characters ({expected}; "
                           "it becomes a folder and file name)")
    if not _PERSONA_RE.fullmatch(text):
        raise _fail(where, f"{shown(text)} is not a persona id ({expected})")
    return text


def period(text: object, where: str | None = None) -> Period:
    """The quarter ``text`` names (``2025Q3``; lower case and surrounding blanks allowed).

    Raises :class:`IdError` naming ``where`` when it is not ``YYYYQn`` with a year in 1900..2999.
    """
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise _fail(where, str(exc)) from None


def refreshable_period(text: object, where: str | None = None) -> Period:
    """:func:`period`, refused (:class:`IdError` naming ``where``) when it comes after the current
    quarter (:func:`cjm_tasks.clock.now`): no data of it can exist yet. The current quarter is
    allowed (a partial refresh)."""
    from cjm_tasks.clock import now

    p = period(text, where)
    current = Period.containing(now())
    if p > current:
        raise _fail(where, f"{p} is after the current quarter ({current}): its data cannot exist yet")
    return p


def version_ref(text: object, where: str | None = None) -> VersionRef:
    """The version ``text`` names: ``2025Q3`` (the latest revision) or ``2025Q3-r2``.

    Raises :class:`IdError` naming ``where`` otherwise.
    """
    expected = "expected a quarter such as 2025Q3 (its latest revision) or a revision such as 2025Q3-r2"
    if not isinstance(text, str):
        raise _fail(where, f"a version must be text, got {type(text).__name__} ({expected})")
    match = _VERSION_RE.fullmatch(text.strip().upper().replace("-R", "-r"))
    if not match:
        raise _fail(where, f"{shown(text)} is not a version ({expected})")
    p = period(match.group("period"), where)
    revision = match.group("revision")
    if revision is None:
        return VersionRef(p)
    if len(revision) > MAX_REVISION_DIGITS or int(revision) < 1:
        raise _fail(where, f"{shown(text)}: revision must be 1 to {'9' * MAX_REVISION_DIGITS} ({expected})")
    return VersionRef(p, int(revision))
