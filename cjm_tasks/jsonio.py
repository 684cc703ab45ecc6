"""Deterministic JSON for everything the tool stores: same document, same bytes."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


def _plain(value: Any) -> Any:
    """numpy / pandas scalars and timestamps as plain JSON values; NaN as null."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(doc: Any) -> bytes:
    """Pretty, UTF-8, key order as built (documents are built in a fixed order)."""
    return (json.dumps(doc, ensure_ascii=False, indent=2, default=_plain, allow_nan=False) + "\n").encode("utf-8")


def sha256_of(doc: Any) -> str:
    """Hash of a document's canonical form (sorted keys, compact), independent of layout."""
    canonical = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
