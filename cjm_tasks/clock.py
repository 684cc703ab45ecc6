"""The time the tool stamps on what it writes (version manifests, validation results), and the
current quarter a refresh cannot go beyond.

``SOURCE_DATE_EPOCH`` (the reproducible-builds convention: seconds since 1970-01-01 UTC), when
set, is that time, so two runs of the same quarter on the same inputs write byte-identical pages.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from cjm_tasks.errors import CjmError


def now() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set, in UTC.

    Raises :class:`~cjm_tasks.errors.CjmError` when ``SOURCE_DATE_EPOCH`` is not a whole number.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    except ValueError:
        raise CjmError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds since 1970-01-01 UTC") from None


def stamp() -> str:
    """:func:`now` to the second (ISO 8601)."""
    return now().isoformat(timespec="seconds")
