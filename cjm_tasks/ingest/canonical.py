"""The canonical tables every source is read into: their columns and types, what one source read
for one period carries (:class:`SourceData`), and which columns a configured source reads from its
files (its column mapping, derived columns, the customer attributes the persona rules use).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.config import CjmConfig, SourceConfig

Kind = Literal["id", "str", "float", "ts", "any"]


@dataclass(frozen=True)
class Column:
    kind: Kind
    required: bool = False


# The canonical columns of each source (ARCHITECTURE.md, "Inputs").
SCHEMAS: dict[str, dict[str, Column]] = {
    "surveys": {
        "response_id": Column("id", True),
        "customer_id": Column("id"),
        "answered_at": Column("ts", True),
        "question": Column("str"),
        "stage": Column("str", True),
        "metric": Column("str", True),
        "score": Column("float", True),
        "comment": Column("str"),
        "channel": Column("str"),
    },
    "reviews": {
        "review_id": Column("id", True),
        "customer_id": Column("id"),
        "published_at": Column("ts", True),
        "rating": Column("float", True),
        "text": Column("str", True),
        "source": Column("str"),
        "language": Column("str"),
        "stage": Column("str"),
    },
    "sales": {
        "event_id": Column("id", True),
        "customer_id": Column("id", True),
        "occurred_at": Column("ts", True),
        "event_type": Column("str", True),
        "stage": Column("str"),
        "channel": Column("str", True),
        "amount": Column("float"),
        "order_id": Column("id"),
    },
    "customers": {"customer_id": Column("id", True)},
}
ID_COLUMN = {"surveys": "response_id", "reviews": "review_id", "sales": "event_id", "customers": "customer_id"}
TIMESTAMP_COLUMN = {"surveys": "answered_at", "reviews": "published_at", "sales": "occurred_at"}
# Columns the reader derives from others through stages.yaml when the file does not carry them.
DERIVED = {"surveys": {"stage": "question", "metric": "question"}, "sales": {"stage": "event_type"}}


@dataclass(frozen=True)
class InputFile:
    """One file read (or one SQL query run): where, how many rows, and a hash of its bytes
    (of the rows read, for a query)."""

    location: str
    rows: int
    sha256: str
    query: str | None = None


@dataclass
class ConversionIssue:
    """Values of one column that could not be converted to the canonical type."""

    column: str
    expected: str
    count: int
    samples: list[str]
    rows: list[str]


@dataclass
class SourceData:
    """One source read for one period: the canonical table and where it came from.

    ``frame`` has a positional index over the concatenated files (``locate`` maps it back to a
    file and row). ``issues`` lists values that could not be converted.
    """

    name: str
    frame: pd.DataFrame | None
    files: list[InputFile]
    rows_read: int
    rows_outside_period: int = 0
    issues: list[ConversionIssue] = field(default_factory=list)
    # A melted or long export: how many of its own rows (responses, orders) the period holds;
    # ``min_rows`` counts these rather than the rows they became.
    records: int | None = None
    pending: list = field(default_factory=list, repr=False)
    # A source streamed to disk (the run's workspace) has no ``frame``: its canonical rows are
    # in this local Parquet file, with ``ROW_COLUMN`` giving each row's position for ``locate``.
    parquet: str | None = None
    rows: int | None = None  # rows of the period kept (``len(frame)`` when in memory)

    @property
    def row_count(self) -> int:
        """Rows of the period kept."""
        return len(self.frame) if self.frame is not None else int(self.rows or 0)

    def locate(self, index: int) -> str:
        """``file, data row N`` for a positional row index of the concatenated input."""
        start = 0
        for f in self.files:
            if index < start + f.rows:
                return f"{f.location}, data row {index - start + 1}"
            start += f.rows
        return f"row {index + 1}"

    @property
    def sha256(self) -> str:
        """One hash over every input file (in name order)."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.sha256.encode())
        return h.hexdigest()


# The position of a canonical row in its source's concatenated input rows (before the period
# cut): what ``SourceData.locate`` turns into "file, data row N". Carried in streamed Parquet.
ROW_COLUMN = "__row"

# A hidden column that keeps the export's own row (a response, an order) through a melt or a
# long layout, to count them; dropped before the table leaves the reader.
UNIT = "__unit"


def string_mapper():
    """The ``types_mapper`` (``Table.to_pandas``) giving text columns their canonical dtype: pandas
    strings stored in Arrow, missing values as NaN."""
    import pandas as pd
    import pyarrow as pa

    def mapper(dtype: pa.DataType):
        if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            return pd.StringDtype(storage="pyarrow", na_value=float("nan"))
        return None

    return mapper


def _wanted_columns(name: str, source: SourceConfig, config: CjmConfig) -> dict[str, bool]:
    """Canonical column -> required, for the columns this source should read from its files."""
    schema = SCHEMAS[name]
    if name == "customers":
        wanted = {"customer_id": True}
        for attr in source.attributes if source.attributes is not None else persona_attributes(config):
            wanted[attr] = False
        return wanted
    wanted = {c: spec.required for c, spec in schema.items() if c not in source.constants}
    if source.row_id == "hash":
        wanted.pop(ID_COLUMN[name], None)
    for attr in source.attributes or []:
        wanted.setdefault(attr, True)
    for derived, origin in DERIVED.get(name, {}).items():
        if derived in wanted:
            wanted[derived] = False
            if origin not in source.constants:
                wanted[origin] = wanted.get(origin, False)
    return wanted


def persona_attributes(config: CjmConfig) -> list[str]:
    """Customer attributes the persona rules use (fields that are not derived features)."""
    from cjm_tasks.config.references import ORDER_FEATURES, SALES_FEATURES, rule_fields

    fields = [f for persona in config.personas.personas for f, _ in rule_fields(persona.rule, "rule")]
    return [f for f in dict.fromkeys(fields) if f not in SALES_FEATURES + ORDER_FEATURES]


def _file_columns_for(source: SourceConfig, wanted: dict[str, bool]) -> list[tuple[str, str, bool]]:
    """``(file column, canonical column, required)`` for the wanted canonical columns.

    One file column may feed several canonical columns (``columns: {id: [customer_id, order_id]}``).
    """
    to_file: dict[str, str] = {}
    for file_col, canonical in source.columns.items():
        for c in [canonical] if isinstance(canonical, str) else canonical:
            to_file[c] = file_col
    melted = {source.melt.variable, source.melt.value} if source.melt else set()
    return [(to_file.get(c, c), c, required) for c, required in wanted.items() if c not in melted]
