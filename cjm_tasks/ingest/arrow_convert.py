"""The canonical conversion of a batch that is already clean and typed, in Arrow compute: the
rows :func:`~cjm_tasks.ingest.convert.to_canonical` gives, without the round trip through pandas.

Only what converts identically is done here: text columns that are text, numbers that are
numbers or text pyarrow casts to numbers, timestamps that are timestamps or ISO 8601 text
pyarrow casts, stage and metric looked up from the stages configuration, text constants. Labels
read as dictionaries (a Parquet file's event types and channels) stay dictionaries, the stage
looked up on the dictionary, so ten million events' labels are never turned into text. Anything
else (value mappings, survey layouts, rating scales, other timestamp formats, a value that does
not cast, a local time that is ambiguous or skipped in a daylight-saving change) gives None, and
the batch goes through :func:`to_canonical`, which also reports what does not convert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjm_tasks.ingest.canonical import SCHEMAS, Column

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config import CjmConfig, SourceConfig


def to_canonical_arrow(table: pa.Table, name: str, source: SourceConfig, config: CjmConfig) -> pa.Table | None:
    """``table`` (a batch of source ``name``, canonical column names) converted to canonical
    types in the column order :func:`to_canonical` gives; None when only pandas converts it
    identically (see the module's description)."""
    import pyarrow as pa

    columns = table.column_names
    # Value mappings apply to constants too (to_canonical sets the constants first).
    if any(c in columns or c in source.constants for c in source.values) or any(not isinstance(v, str) for v in source.constants.values()):
        return None
    if name == "surveys" and (source.layout == "long" or source.text_questions):
        return None
    if name == "reviews" and (source.scales or source.scale_by):
        return None
    try:
        for column, value in source.constants.items():
            constant = pa.repeat(pa.scalar(value, pa.string()), table.num_rows)
            table = table.set_column(columns.index(column), column, constant) if column in columns else table.append_column(column, constant)
            columns = table.column_names
        if name == "surveys" and "question" in columns:
            lookup = config.question_stage_metric
            for derived, part in (("stage", 0), ("metric", 1)):
                if derived not in table.column_names:
                    table = table.append_column(derived, _looked_up(table["question"], {q: sm[part] for q, sm in lookup.items()}))
        if name == "sales" and "event_type" in columns and "stage" not in columns:
            table = table.append_column("stage", _looked_up(table["event_type"], config.event_stage))
        schema = SCHEMAS[name]
        tz = source.timezone or config.project.timezone
        converted = []
        for column in table.column_names:
            kind = schema.get(column, Column("any")).kind
            values = table[column]
            if kind in ("id", "str"):
                values = _text(values)
            elif kind == "float":
                values = _number(values)
            elif kind == "ts":
                values = _timestamp(values, tz, source.timestamp_format)
            if values is None:
                return None
            converted.append(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, _NotIdentical):
        return None
    return pa.table(converted, names=table.column_names)


class _NotIdentical(Exception):
    """This batch converts differently in Arrow than in pandas: convert it with pandas."""


def _looked_up(keys: pa.ChunkedArray, mapping: dict[str, str]) -> pa.ChunkedArray:
    """``Series.map(mapping)``: the value of each key, null for a key the mapping lacks. Keys
    read as a dictionary give a dictionary: each chunk's dictionary looked up, its indices kept
    (null where the key is not mapped)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if is_text_dictionary(keys.type):
        keys_set, values = pa.array(list(mapping), pa.string()), pa.array(list(mapping.values()), pa.string())
        chunks = []
        for chunk in keys.chunks:
            mapped = pc.take(values, pc.index_in(chunk.dictionary.cast(pa.string()), value_set=keys_set))
            unmapped = pc.take(pc.is_null(mapped), chunk.indices)
            indices = pc.if_else(unmapped, pa.scalar(None, chunk.indices.type), chunk.indices)
            # Parquet cannot write a null inside a dictionary: the unmapped keys' entries are
            # left unused (their rows are null by their indices).
            chunks.append(pa.DictionaryArray.from_arrays(indices.cast(pa.int32()), mapped.fill_null("")))
        return pa.chunked_array(chunks, type=text_dictionary())
    if not is_text_type(keys.type):
        raise _NotIdentical  # pandas compares other types with the mapping's text keys
    index = pc.index_in(keys.cast(pa.string()), value_set=pa.array(list(mapping), pa.string()))
    return pc.take(pa.array(list(mapping.values()), pa.string()), index)


def _text(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    import pyarrow as pa

    if is_text_dictionary(values.type):
        return values.cast(text_dictionary())
    if is_text_type(values.type) or pa.types.is_null(values.type):
        return values.cast(pa.string())
    return None


def text_dictionary() -> pa.DataType:
    """The type of a label kept as a dictionary (read so from Parquet, written so to the workspace)."""
    import pyarrow as pa

    return pa.dictionary(pa.int32(), pa.string())


def is_text_type(type_: pa.DataType) -> bool:
    """Arrow text (``string`` or ``large_string``; not binary)."""
    import pyarrow as pa

    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def is_text_dictionary(type_: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_dictionary(type_) and is_text_type(type_.value_type)


def plain_text(table: pa.Table) -> pa.Table:
    """``table`` with its labels read as dictionaries decoded to text (for pandas, which would
    make them categories, and for every path other than the Arrow conversion)."""
    import pyarrow as pa

    if not any(is_text_dictionary(f.type) for f in table.schema):
        return table
    return pa.table([table[f.name].cast(pa.string()) if is_text_dictionary(f.type) else table[f.name] for f in table.schema],
                    names=table.column_names)


def _number(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type) or pa.types.is_null(values.type):
        return values.cast(pa.float64())
    if is_text_type(values.type):
        numbers = values.cast(pa.float64())
        # pandas reads "nan" as a value that is not a number (a conversion issue); Arrow as NaN.
        if pc.any(pc.is_nan(numbers)).as_py():
            raise _NotIdentical
        return numbers
    return None


def _timestamp(values: pa.ChunkedArray, tz: str, fmt: str | None) -> pa.ChunkedArray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    utc = pa.timestamp("us", "UTC")
    if pa.types.is_null(values.type):
        return values.cast(utc)
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            # pandas marks an ambiguous local time as an issue and moves a skipped one forward:
            # both are left to pandas (Arrow raises for them here).
            values = pc.assume_timezone(values, tz, ambiguous="raise", nonexistent="raise")
        return values.cast(utc, safe=False)
    if not is_text_type(values.type) or (fmt or "iso8601") != "iso8601":
        return None
    try:
        # Every value with an offset (or Z): instants. Arrow refuses text without one here.
        return values.cast(utc)
    except pa.ArrowInvalid:
        pass
    # Every value without an offset: local times of ``tz``. Arrow refuses text with one here;
    # a batch that mixes both raises, and pandas reads it (all as UTC).
    local = values.cast(pa.timestamp("us"))
    return pc.assume_timezone(local, tz, ambiguous="raise", nonexistent="raise").cast(utc)
