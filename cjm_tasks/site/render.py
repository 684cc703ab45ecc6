"""Jinja2 rendering: one environment for every page the tool writes.

Autoescape is on for every template (survey and review text is untrusted) and undefined
variables are errors, so a template typo fails loudly instead of printing nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cjm_tasks.resources import templates_dir

TEMPLATES = templates_dir()


@lru_cache(maxsize=1)
def environment():
    """The shared Jinja2 environment over ``templates/``."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "xml", "svg"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context``."""
    return environment().get_template(name).render(**context)
