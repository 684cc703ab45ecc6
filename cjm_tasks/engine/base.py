"""The engine interface and the choice of engine from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from cjm_tasks.errors import CjmError

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config import CjmConfig


class EngineError(CjmError):
    """The engine could not start or run a query (Java missing for Spark, a bad master URL, ...)."""


class Engine(Protocol):
    """What every engine does. SQL is DuckDB's dialect; results of :meth:`query` must be small."""

    name: str

    def register_parquet(self, view: str, paths: list[str]) -> None:
        """A view over Parquet files (all with the same columns)."""

    def register_arrow(self, view: str, table: pa.Table) -> None:
        """A view over an Arrow table held in memory (in-memory commands, small tables)."""

    def execute(self, sql: str) -> None:
        """Run a statement: ``CREATE OR REPLACE TEMP VIEW name AS ...`` (materialized by
        :meth:`materialize` when a result is read several times)."""

    def materialize(self, view: str, sql: str) -> None:
        """Compute ``sql`` once and keep it as ``view`` for the following queries."""

    def drop(self, view: str) -> None:
        """Forget ``view`` (materialized or not) and free what it holds (nothing when there is none)."""

    def query(self, sql: str) -> pa.Table:
        """Run a query and return its (small) result."""

    def batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        """Run a query and read its result in record batches of at most ``rows`` rows (a large
        result converted piece by piece, never whole in Arrow)."""

    def columns(self, view: str) -> dict[str, str]:
        """The view's columns and their (engine) types, in order; :class:`EngineError` when there is no such view."""

    def close(self) -> None:
        """Release memory, temporary files and sessions."""


def open_engine(config: CjmConfig | None = None, kind: str | None = None) -> Any:
    """The configured engine (``engine.kind``, or ``kind``), ready for queries."""
    from cjm_tasks.config.main import EngineConfig

    settings = config.engine if config is not None else EngineConfig()
    chosen = kind or settings.kind
    if chosen == "duckdb":
        from cjm_tasks.engine.duck import DuckDBEngine

        return DuckDBEngine(settings)
    if chosen == "spark":
        from cjm_tasks.engine.spark import SparkEngine

        return SparkEngine(settings)
    raise EngineError(f"unknown engine {chosen!r}: expected duckdb or spark")
