"""The JSON Schemas generated from the document models, the committed copies in
``cjm_tasks/schemas/``, and the checks that a map or a diff matches its model."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from cjm_tasks import jsonio
from cjm_tasks.models.diff import DIFF_SCHEMA_ID, MapDiff
from cjm_tasks.models.map import MAP_SCHEMA_ID, JourneyMap

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# File name in cjm_tasks/schemas/ -> (model, $id).
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "map.schema.json": (JourneyMap, MAP_SCHEMA_ID),
    "diff.schema.json": (MapDiff, DIFF_SCHEMA_ID),
}
_SHOWN_ERRORS = 10


class MapSchemaError(ValueError):
    """A map document that does not match :class:`~cjm_tasks.models.map.JourneyMap`."""


class DiffSchemaError(ValueError):
    """A diff document that does not match :class:`~cjm_tasks.models.diff.MapDiff`."""


class _Generator(GenerateJsonSchema):
    """Pydantic's draft 2020-12 output without what only restates the Python side: no titles
    (class and field names) and no defaults (an absent key is simply not required)."""

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def generate(self, schema: Any, mode: Any = "validation") -> JsonSchemaValue:
        return _tidy(super().generate(schema, mode))


def _tidy(node: Any) -> Any:
    """Titles dropped, descriptions (docstrings) on one line."""
    # A "title" or "description" whose value is a string is a keyword; a property of that name holds a schema.
    if isinstance(node, dict):
        return {k: " ".join(v.split()) if k == "description" and isinstance(v, str) else _tidy(v)
                for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def generate_schema(model: type[BaseModel], schema_id: str) -> dict[str, Any]:
    """The JSON Schema of ``model`` as committed: dialect, ``$id`` and title (the model's docstring) first."""
    body = model.model_json_schema(schema_generator=_Generator)
    defs = body.pop("$defs", {})
    title = body.pop("description", "").rstrip(".")
    return {"$schema": DIALECT, "$id": schema_id, "title": title, **body, "$defs": defs}


def schema_text(name: str) -> str:
    """The generated text of the committed schema file ``name`` (a key of :data:`SCHEMAS`)."""
    model, schema_id = SCHEMAS[name]
    return json.dumps(generate_schema(model, schema_id), ensure_ascii=False, indent=2) + "\n"


def schema_folder() -> Path:
    """``cjm_tasks/schemas/`` (a real folder: in a checkout, or in an installed package)."""
    return Path(str(files("cjm_tasks").joinpath("schemas")))


def stale_schemas(folder: Path | None = None) -> list[str]:
    """Names of the committed schema files that differ from what the models generate (or are missing)."""
    folder = folder or schema_folder()
    return [name for name in SCHEMAS if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != schema_text(name)]


def write_schemas(folder: Path | None = None) -> list[Path]:
    """Write every schema file generated from the models into ``folder``; return the paths."""
    folder = folder or schema_folder()
    paths = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(schema_text(name), encoding="utf-8")
        paths.append(path)
    return paths


def map_schema() -> dict[str, Any]:
    """The committed JSON Schema of a map (``cjm_tasks/schemas/map.schema.json``)."""
    return json.loads(files("cjm_tasks").joinpath("schemas/map.schema.json").read_text(encoding="utf-8"))


def diff_schema() -> dict[str, Any]:
    """The committed JSON Schema of a diff (``cjm_tasks/schemas/diff.schema.json``)."""
    return json.loads(files("cjm_tasks").joinpath("schemas/diff.schema.json").read_text(encoding="utf-8"))


def _problems(model: type[BaseModel], doc: dict[str, Any]) -> list[str]:
    """Where ``doc``, as stored (:func:`cjm_tasks.jsonio.dumps`), breaks ``model``: "path: message" lines."""
    try:
        model.model_validate_json(jsonio.dumps(doc), strict=True)
    except ValidationError as exc:
        return [f"{'/'.join(str(part) for part in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors(include_url=False)]
    return []


def _listed(problems: list[str]) -> str:
    more = len(problems) - _SHOWN_ERRORS
    return "\n  ".join(problems[:_SHOWN_ERRORS] + ([f"... and {more} more"] if more > 0 else []))


def check_map(doc: dict[str, Any]) -> None:
    """Raise :class:`MapSchemaError` listing where ``doc`` breaks the map model (at most ten places)."""
    problems = _problems(JourneyMap, doc)
    if problems:
        persona = doc.get("persona") if isinstance(doc.get("persona"), dict) else {}
        raise MapSchemaError(f"map of {persona.get('id')} {doc.get('period')} does not match the schema:\n  {_listed(problems)}")


def check_diff(doc: dict[str, Any]) -> None:
    """Raise :class:`DiffSchemaError` listing where ``doc`` breaks the diff model (at most ten places)."""
    problems = _problems(MapDiff, doc)
    if problems:
        raise DiffSchemaError(f"diff of {doc.get('persona')} {doc.get('to') or doc.get('to_period')} does not match the schema:\n  "
                              f"{_listed(problems)}")
