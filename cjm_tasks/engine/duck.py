"""DuckDB embedded: bounded memory (``engine.memory_limit``, spilling to a temporary folder
beyond it), all cores or ``engine.threads``; reads Parquet files and Arrow tables in place."""

from __future__ import annotations

import shutil
import tempfile
from typing import TYPE_CHECKING

from cjm_tasks.engine.base import EngineError
from cjm_tasks.engine.sql import ident, lit

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config.main import EngineConfig


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, settings: EngineConfig):
        import duckdb

        self._own_temp = settings.temp_directory is None
        self.temp = tempfile.mkdtemp(prefix="cjm-duckdb-") if self._own_temp else settings.temp_directory
        try:
            self.con = duckdb.connect(config={"memory_limit": settings.memory_limit, "temp_directory": self.temp,
                                              # Results in the order of the query, whatever the threads.
                                              "preserve_insertion_order": True,
                                              **({"threads": settings.threads} if settings.threads else {})})
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB could not start with engine settings {settings.model_dump(exclude={'spark'})}: {exc}") from None
        self.con.execute("SET TimeZone = 'UTC'")
        self._arrow: dict[str, pa.Table] = {}

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def register_parquet(self, view: str, paths: list[str]) -> None:
        files = ", ".join(lit(str(p)) for p in paths)
        self.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT * FROM read_parquet([{files}])")

    def register_arrow(self, view: str, table: pa.Table) -> None:
        self._arrow[view] = table
        self.con.register(view, table)

    def execute(self, sql: str) -> None:
        self._run(sql)

    def materialize(self, view: str, sql: str) -> None:
        self._run(f"CREATE OR REPLACE TEMP TABLE {ident(view)} AS {sql}")

    def drop(self, view: str) -> None:
        kinds = {kind for (kind,) in self.con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?",
                                                       [view]).fetchall()}
        for kind in sorted(kinds):
            self._run(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {ident(view)}")

    def query(self, sql: str) -> pa.Table:
        import duckdb

        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB: {exc}\n  in: {sql[:2000]}") from None

    def batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        import duckdb

        try:
            return self.con.sql(sql).to_arrow_reader(rows)
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB: {exc}\n  in: {sql[:2000]}") from None

    def columns(self, view: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self._run(f"DESCRIBE {ident(view)}").fetchall()}

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self._own_temp:
                shutil.rmtree(self.temp, ignore_errors=True)

    def _run(self, sql: str):
        import duckdb

        try:
            return self.con.execute(sql)
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB: {exc}\n  in: {sql[:2000]}") from None
