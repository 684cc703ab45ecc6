"""The canonical tables of a quarter as engine views: one view per source, named after it
(``surveys``, ``reviews``, ``sales``, ``customers``), each with the canonical columns and
``__row`` (:data:`~cjm_tasks.ingest.canonical.ROW_COLUMN`), the row's position in its input,
so a check can say "file, data row N"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjm_tasks.ingest.canonical import ROW_COLUMN

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from cjm_tasks.engine.base import Engine
    from cjm_tasks.ingest.canonical import SourceData


def frame_table(frame: pd.DataFrame) -> pa.Table:
    """A canonical table held in memory as an Arrow table with ``__row`` from its index."""
    import pyarrow as pa

    positions = frame.index.to_numpy()
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    return table.append_column(ROW_COLUMN, pa.array(positions, type=pa.int64())) if ROW_COLUMN not in table.column_names else table


def register_sources(engine: Engine, data: dict[str, SourceData]) -> None:
    """Every source of ``data`` as the view of its name: streamed ones from their Parquet file,
    in-memory ones from their frame."""
    for name, source in data.items():
        if source.parquet is not None:
            engine.register_parquet(name, [source.parquet])
        else:
            engine.register_arrow(name, frame_table(source.frame))
