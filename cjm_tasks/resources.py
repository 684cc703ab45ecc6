"""Where the bundled configurations and templates are, installed or in a checkout.

A wheel carries ``configs/`` and ``templates/`` as package data under ``cjm_tasks/_data/``
(``pyproject.toml``, ``force-include``); a checkout (or an editable install) has them beside the
package at the repository's top. Code asks here rather than walking up from ``__file__``; the JSON
schema sits inside the package (``cjm_tasks/schemas/``) and is read with ``importlib.resources``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path


@lru_cache(maxsize=None)
def bundled(name: str) -> Path:
    """The bundled folder ``name`` (``configs`` or ``templates``).

    Raises FileNotFoundError when neither the installed package data nor the checkout has it.
    """
    # A real folder, not just a Traversable: configurations resolve relative paths against it,
    # Jinja2 loads templates from it and `cjm init` copies from it (the wheel is installed unpacked).
    package = Path(str(files("cjm_tasks")))
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the bundled {name}/ folder is missing: reinstall the package (looked in {package / '_data'} and {package.parent})")


def configs_dir() -> Path:
    return bundled("configs")


def templates_dir() -> Path:
    return bundled("templates")
