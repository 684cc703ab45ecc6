"""Typed models of the documents the tool stores: the journey map (:mod:`.map`) and the diff
between two of its versions (:mod:`.diff`). The JSON Schemas in ``cjm_tasks/schemas/`` are
generated from them (``python -m cjm_tasks.models --write``); :func:`check_map` and
:func:`check_diff` say where a document breaks its model."""

from cjm_tasks.models.diff import MapDiff
from cjm_tasks.models.map import SCHEMA_VERSION, JourneyMap
from cjm_tasks.models.schema import DiffSchemaError, MapSchemaError, check_diff, check_map, diff_schema, map_schema

__all__ = ["SCHEMA_VERSION", "DiffSchemaError", "JourneyMap", "MapDiff", "MapSchemaError", "check_diff", "check_map", "diff_schema",
           "map_schema"]
