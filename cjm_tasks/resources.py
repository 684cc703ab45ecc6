"""Where the bundled configurations, templates and schemas are, installed or in a checkout.

A wheel carries ``configs/`` and ``templates/`` as package data under ``cjm_tasks/_data/``
(``pyproject.toml``, ``force-include``); a checkout (or an editable install) has them beside the
package at the repository's top. Code asks here rather than walking up from ``__file__``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def bundled(name: str) -> Path:
    """The bundled folder ``name`` (``configs`` or ``templates``)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the bundled {name}/ folder is missing: reinstall the package (looked in {_PACKAGE / '_data'} and {_PACKAGE.parent})")


def configs_dir() -> Path:
    return bundled("configs")


def templates_dir() -> Path:
    return bundled("templates")
