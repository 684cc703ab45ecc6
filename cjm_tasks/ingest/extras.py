"""The extra expectations of ``expectations.yaml``: any Great Expectations 1.x expectation with its
kwargs, per source.

The common ones become engine rules (:func:`translate`: not null, unique, in or not in a set,
between, matching a regular expression or not, value lengths, the row count, a column present);
any other runs through GX's pandas datasource on only the columns it names, projected from the
engine's view (:func:`run_with_gx`), so no expectation type is lost. An unknown name or kwargs GX
refuses are a configuration error naming the file and key: GX builds each extra to say so, except
the plain forms of the common ones, checked here, so that a gate without other extras never
imports Great Expectations (its import takes seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjm_tasks.engine.sql import ident, lit
from cjm_tasks.errors import ConfigError
from cjm_tasks.ingest.canonical import ROW_COLUMN, string_mapper
from cjm_tasks.ingest.checks import SAMPLES, Check, Rule, between, in_set, plain, type_kind

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig
    from cjm_tasks.engine.base import Engine

# Kwargs every GX expectation takes that change how its result is reported, not what it checks.
_REPORTING = {"result_format", "catch_exceptions", "meta", "notes", "description", "severity", "id", "batch_id", "rendered_content"}
# Kwargs naming the columns an expectation reads (what the GX fallback projects from the view).
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


@dataclass
class Extra:
    """One extra expectation of a source: its kwargs as GX keeps them, and the GX expectation
    object once built (:meth:`built`)."""

    expectation: str
    kwargs: dict[str, Any]
    gx: Any = None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    def named_columns(self) -> list[str]:
        """The columns its kwargs name (empty for a table expectation)."""
        named = []
        for key in _COLUMN_KWARGS:
            value = self.kwargs.get(key)
            named += value if isinstance(value, list) else [value] if isinstance(value, str) else []
        return list(dict.fromkeys(named))

    def built(self) -> Any:
        """The Great Expectations expectation (imports GX)."""
        if self.gx is None:
            self.gx = _gx_class(self.expectation)(**self.kwargs)
        return self.gx


# The common expectations' kwargs in their plain form: the kwarg, its type, whether it is required.
# Plain kwargs are checked here, so a configuration using only these does not pay GX's import (seconds)
# to be validated; anything else (other types, parameters, row conditions, reporting options) GX checks.
_NUMBER, _COUNT, _FLAG, _SHARE = (int, float), (int,), (bool,), (int, float)
_COLUMN = {"column": ((str,), True), "mostly": (_SHARE, False)}
_BOUNDS = {"strict_min": (_FLAG, False), "strict_max": (_FLAG, False)}
_PLAIN: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "expect_column_values_to_not_be_null": _COLUMN,
    "expect_column_values_to_be_unique": _COLUMN,
    "expect_column_values_to_be_in_set": {**_COLUMN, "value_set": ((list,), True)},
    "expect_column_values_to_not_be_in_set": {**_COLUMN, "value_set": ((list,), True)},
    "expect_column_values_to_be_between": {**_COLUMN, "min_value": (_NUMBER, False), "max_value": (_NUMBER, False), **_BOUNDS},
    "expect_column_values_to_match_regex": {**_COLUMN, "regex": ((str,), False)},
    "expect_column_values_to_not_match_regex": {**_COLUMN, "regex": ((str,), False)},
    "expect_column_value_lengths_to_be_between": {**_COLUMN, "min_value": (_COUNT, False), "max_value": (_COUNT, False), **_BOUNDS},
    "expect_table_row_count_to_be_between": {"min_value": (_COUNT, False), "max_value": (_COUNT, False), **_BOUNDS},
    "expect_table_row_count_to_equal": {"value": (_COUNT, True)},
    "expect_column_to_exist": {"column": ((str,), True), "column_index": (_COUNT, False)},
}


def _plain_kwargs(expectation: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """``kwargs`` when they are a plain form of a common expectation GX accepts as given, else None."""
    spec = _PLAIN.get(expectation)
    if spec is None or not set(kwargs) <= set(spec) or any(required and key not in kwargs for key, (_, required) in spec.items()):
        return None
    for key, value in kwargs.items():
        if value is None and key in ("min_value", "max_value"):
            continue
        if isinstance(value, bool) and bool not in spec[key][0] or not isinstance(value, spec[key][0]):
            return None
    if "mostly" in kwargs and not 0 <= kwargs["mostly"] <= 1:
        return None
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if "min_value" in spec and expectation != "expect_table_row_count_to_be_between" and low is None and high is None:
        return None  # GX: min_value and max_value cannot both be None
    if expectation == "expect_table_row_count_to_be_between" and low is not None and high is not None and low > high:
        return None
    return {k: float(v) if k == "mostly" else v for k, v in kwargs.items()}


def _gx_class(expectation: str) -> Any:
    quiet_gx()
    import great_expectations.expectations as gxe

    return getattr(gxe, "".join(part.title() for part in expectation.split("_")), None)


def load_extras(config: CjmConfig, sources: list[str]) -> dict[str, list[Extra]]:
    """The extra expectations of ``sources``. Raises :class:`~cjm_tasks.errors.ConfigError` naming
    ``<source>.extra[i]`` for a name that is not a GX 1.x expectation or kwargs its class refuses;
    GX is imported for that only when an extra is not in a plain form of a common expectation."""
    file = str(config.files["expectations"])
    loaded: dict[str, list[Extra]] = {}
    for name in sources:
        for i, extra in enumerate(getattr(config.expectations, name).extra):
            plain_kwargs = _plain_kwargs(extra.expectation, extra.kwargs)
            if plain_kwargs is not None:
                loaded.setdefault(name, []).append(Extra(extra.expectation, plain_kwargs))
                continue
            cls, where = _gx_class(extra.expectation), f"{name}.extra[{i}]"
            if cls is None:
                raise ConfigError(file, f"{where}.expectation", f"{extra.expectation!r} is not a Great Expectations 1.x expectation")
            try:
                built = cls(**extra.kwargs)
            except Exception as exc:  # GX raises pydantic errors of its own for bad kwargs
                raise ConfigError(file, f"{where}.kwargs", f"not accepted by {extra.expectation}: {exc}") from None
            loaded.setdefault(name, []).append(Extra(extra.expectation, dict(built.configuration.kwargs), built))
    return loaded


def translate(extra: Extra, columns: dict[str, str]) -> Rule | None:
    """The engine rule computing ``extra`` exactly as GX would, or None when it is not one of the
    common expectations, or uses what the rule does not model (a row condition, a parameter
    reference, values of another type than the column's): GX then runs it."""
    kwargs = {k: v for k, v in extra.kwargs.items() if k not in _REPORTING}
    if any(isinstance(v, dict) for v in kwargs.values()):
        return None  # {"$PARAMETER": ...}: GX resolves those
    mostly = float(kwargs.pop("mostly", 1.0))
    column = kwargs.get("column")
    kind = type_kind(columns[column]) if column in columns else None
    rule = dict(kind="extra", column=column, description=extra.expectation, expectation=extra.expectation, mostly=mostly)
    strict = (bool(kwargs.get("strict_min", False)), bool(kwargs.get("strict_max", False)))
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    name = extra.expectation

    def takes(*keys: str) -> bool:
        return set(kwargs) <= {"column", *keys}

    if name == "expect_column_values_to_not_be_null" and takes():
        return Rule(**rule, metric="nulls")
    if name == "expect_column_values_to_be_unique" and takes():
        return Rule(**rule, metric="unique")
    if name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set") and takes("value_set"):
        values = _fitting(kwargs.get("value_set") or [], kind)
        if values is None:
            return None
        outside = in_set(column, values)
        return Rule(**rule, metric="values", unexpected=outside if "_not_" not in name else f"NOT ({outside})")
    if name == "expect_column_values_to_be_between" and takes("min_value", "max_value", "strict_min", "strict_max"):
        bounds = [_fitting([b], kind) if b is not None else [None] for b in (low, high)]
        if any(b is None or len(b) != 1 for b in bounds) or kind not in ("number", "time"):
            return None
        return Rule(**rule, metric="values", unexpected=between(ident(column), bounds[0][0], bounds[1][0], *strict))
    if name in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex") and takes("regex") and kind == "text":
        found = f"regexp_matches({ident(column)}, {lit(str(kwargs.get('regex', '(?s).*')))})"
        return Rule(**rule, metric="values", unexpected=f"NOT {found}" if "_not_" not in name else found)
    if name == "expect_column_value_lengths_to_be_between" and takes("min_value", "max_value", "strict_min", "strict_max") and kind == "text":
        return Rule(**rule, metric="values", unexpected=between(f"length({ident(column)})", low, high, *strict))
    if name == "expect_table_row_count_to_be_between" and set(kwargs) <= {"min_value", "max_value", "strict_min", "strict_max"}:
        return Rule(**rule, metric="row_count", bounds=(low, high, *strict))
    if name == "expect_table_row_count_to_equal" and set(kwargs) <= {"value"}:
        return Rule(**rule, metric="row_count", bounds=(kwargs.get("value"), kwargs.get("value"), False, False))
    if name == "expect_column_to_exist" and takes("column_index"):
        return Rule(**rule, metric="exists", bounds=(kwargs.get("column_index"), None, False, False))
    return None


def _fitting(values: list[Any], kind: str | None) -> list[Any] | None:
    """``values`` as literals comparable with a column of ``kind``, or None when GX must compare
    them itself. GX (pandas) compares by Python equality, so a value of another type than the
    column's matches nothing: left out. Timestamps must carry their offset to name an instant."""
    if kind == "text":
        return [v for v in values if isinstance(v, str)]
    if kind == "number":
        return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if kind == "time":
        import pandas as pd

        out = []
        for v in values:
            try:
                stamp = pd.Timestamp(v)
            except (TypeError, ValueError):
                return None
            if stamp.tzinfo is None:
                return None
            out.append(stamp.to_pydatetime())
        return out
    return None


def run_with_gx(engine: Engine, view: str, extras: list[Extra], columns: dict[str, str], locate: Callable[[int], str]) -> list[Check]:
    """Run ``extras`` with Great Expectations' pandas datasource on the columns they name (every
    column for a table expectation, a column's place or a row condition), projected from ``view``
    with ``__row`` as the index, so GX's unexpected indexes are input positions. Returns one
    check per extra."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    named = [c for e in extras for c in e.named_columns()]
    if any(not e.named_columns() or "row_condition" in e.kwargs or e.expectation == "expect_column_to_exist" for e in extras):
        named = [c for c in columns if c != ROW_COLUMN]
    wanted = [c for c in dict.fromkeys(named) if c in columns] + [ROW_COLUMN]
    row = ident(ROW_COLUMN)
    table = engine.query(f"SELECT {', '.join(ident(c) for c in wanted)} FROM {ident(view)} ORDER BY {row}")
    frame = table.to_pandas(types_mapper=string_mapper())
    frame.index = frame.pop(ROW_COLUMN).to_numpy()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    suite = context.suites.add(gx.ExpectationSuite(name=f"cjm_{view}_extra"))
    for n, extra in enumerate(extras):
        # GX does not return results in suite order: tag each expectation to find its result.
        built = extra.built()
        built.meta = {**(built.meta or {}), "cjm_check": n}
        suite.add_expectation(built)
    batch = context.data_sources.add_pandas("cjm").add_dataframe_asset(view).add_batch_definition_whole_dataframe("rows")
    validation = context.validation_definitions.add(gx.ValidationDefinition(name=f"cjm_{view}_extra", data=batch, suite=suite))
    outcome = validation.run(batch_parameters={"dataframe": frame},
                             result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLES})
    by_tag = {r.expectation_config.meta["cjm_check"]: r for r in outcome.results}
    return [_gx_check(view, extra, by_tag[n], locate) for n, extra in enumerate(extras)]


def _gx_check(view: str, extra: Extra, result: Any, locate: Callable[[int], str]) -> Check:
    doc = result.to_json_dict()
    res = doc.get("result") or {}
    exception = doc.get("exception_info") or {}
    indices = res.get("partial_unexpected_index_list") or []
    return Check(
        source=view, kind="extra", column=extra.column, description=extra.expectation, success=bool(doc["success"]),
        expectation=doc["expectation_config"]["type"], mostly=doc["expectation_config"]["kwargs"].get("mostly"),
        element_count=res.get("element_count"), unexpected_count=res.get("unexpected_count"),
        unexpected_percent=res.get("unexpected_percent"), observed=plain(res.get("observed_value")),
        sample_values=[plain(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLES]],
        sample_rows=[locate(int(i)) for i in indices[:SAMPLES] if isinstance(i, (int, float))],
        error=exception.get("exception_message") if exception.get("raised_exception") else None,
    )


def quiet_gx() -> None:
    """Keep GX's hundreds of INFO lines (and "Calculating Metrics" bars) out of the task log."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations  # noqa: F401  (its import configures loggers of its own)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)
