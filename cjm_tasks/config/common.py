"""What the models of every configuration file share: strict models, slugs, texts given in
one language or several, which way a metric is better, and the checks of timezones and scales."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema

from cjm_tasks.periods import PeriodError, zone

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]+$")]


def _localized(value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and value and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        return value
    raise ValueError(f"expected a text or a mapping of language to text such as {{en: ..., ru: ...}}, got {value!r}")


Localized = Annotated[Union[str, dict[str, str]], BeforeValidator(_localized), WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object"}]})]


def localize(text: Localized, language: str) -> str:
    """The text in ``language``, falling back to English, then to any language given."""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get("en") or next(iter(text.values()), "")


class Strict(BaseModel):
    """Every configuration model: an unknown key is an error, and a loaded value cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Better = Literal["lower", "higher"]


def check_timezone(value: str) -> str:
    """``value`` when it names a timezone; raises ValueError saying why not otherwise."""
    try:
        zone(value)
    except PeriodError as exc:
        raise ValueError(str(exc)) from None
    return value


def check_scale(name: str, bounds: tuple[float, float]) -> None:
    """Raises ValueError unless ``bounds`` is [low, high] with low < high."""
    low, high = bounds
    if low >= high:
        raise ValueError(f"scale of {name!r} must be [low, high] with low < high, got [{low}, {high}]")


def display_path(path: Path) -> str:
    """How error messages name a file: relative to the working folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
