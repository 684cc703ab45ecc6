"""Apache Spark (PySpark): local mode on one machine, or any cluster by ``engine.spark.master``
or an Airflow Spark connection. The queries are DuckDB SQL, transpiled to Spark SQL by SQLGlot,
so both engines run the same statements."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from cjm_tasks.engine.base import EngineError

if TYPE_CHECKING:
    import pyarrow as pa

    from cjm_tasks.config.main import EngineConfig, SparkConfig


@functools.lru_cache(maxsize=512)
def to_spark_sql(sql: str) -> str:
    """DuckDB SQL as Spark SQL."""
    import sqlglot

    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write="spark"))


def spark_master(settings: SparkConfig) -> tuple[str, dict[str, str]]:
    """The master URL and extra conf: from the Airflow connection ``settings.connection`` when
    set (``AIRFLOW_CONN_<ID>`` as a URI or JSON first, else Airflow's store), else ``settings.master``.

    A connection of the Spark provider's kind keeps the master in its host (``spark://h``,
    ``yarn``, ``local[2]``) and port, and Spark settings under ``conf`` in its extra."""
    if not settings.connection:
        return settings.master, dict(settings.conf)
    import json

    env = f"AIRFLOW_CONN_{settings.connection.upper()}"
    raw = os.environ.get(env)
    if raw and raw.lstrip().startswith("{"):
        doc = json.loads(raw)
        host, port, extra = doc.get("host") or "", doc.get("port"), doc.get("extra") or {}
    elif raw:
        from urllib.parse import parse_qsl, urlsplit

        parts = urlsplit(raw)
        host, port, extra = parts.hostname or "", parts.port, dict(parse_qsl(parts.query))
        if extra.get("conf"):
            extra["conf"] = json.loads(extra["conf"])
    else:
        try:
            from airflow.sdk import BaseHook
        except ImportError:
            raise EngineError(f"engine.spark.connection {settings.connection!r}: set {env}, or run inside Airflow") from None
        conn = BaseHook.get_connection(settings.connection)
        host, port, extra = conn.host or "", conn.port, conn.extra_dejson
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    if not host:
        raise EngineError(f"Airflow connection {settings.connection!r} has no host (the Spark master, e.g. spark://host or local[2])")
    master = f"{host}:{port}" if port else host
    conf = {**settings.conf, **{str(k): str(v) for k, v in (extra.get("conf") or {}).items()}}
    return master, conf


class SparkEngine:
    name = "spark"

    def __init__(self, settings: EngineConfig):
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineError("engine.kind is spark but PySpark is not installed: pip install 'cjm[spark]' (it needs Java 17+)") from None
        master, conf = spark_master(settings.spark)
        os.environ.setdefault("PYSPARK_PYTHON", __import__("sys").executable)
        builder = (SparkSession.builder.appName("cjm").master(master)
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", str(max(2, (settings.threads or os.cpu_count() or 2) * 2)))
                   .config("spark.driver.memory", conf.pop("spark.driver.memory", "1g")))
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            self.spark = builder.getOrCreate()
        except Exception as exc:  # Java missing or a master that cannot be reached
            raise EngineError(f"Spark could not start (master {master!r}): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                              "Spark needs Java 17 or newer (JAVA_HOME or java on PATH)") from None
        self.spark.sparkContext.setLogLevel("ERROR")
        self._views: list[str] = []

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def register_parquet(self, view: str, paths: list[str]) -> None:
        self.spark.read.parquet(*paths).createOrReplaceTempView(view)
        self._views.append(view)

    def register_arrow(self, view: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            import pyarrow as pa

            # Spark infers no schema from an empty Arrow table: give it one typed null row, filtered out.
            table = pa.Table.from_pylist([{c: None for c in table.column_names}], schema=table.schema)
            self.spark.createDataFrame(table).limit(0).createOrReplaceTempView(view)
        else:
            self.spark.createDataFrame(table).createOrReplaceTempView(view)
        self._views.append(view)

    def execute(self, sql: str) -> None:
        self._run(sql)

    def materialize(self, view: str, sql: str) -> None:
        frame = self._run(sql).cache()
        frame.count()
        frame.createOrReplaceTempView(view)

    def drop(self, view: str) -> None:
        if self.spark.catalog.tableExists(view):
            self.spark.table(view).unpersist()
            self.spark.catalog.dropTempView(view)

    def query(self, sql: str) -> pa.Table:
        return self._run(sql).toArrow()

    def batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        import pyarrow as pa

        table = self.query(sql)  # collected on the driver: Spark gives no Arrow stream here
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(rows))

    def columns(self, view: str) -> dict[str, str]:
        try:
            fields = self.spark.table(view).schema.fields
        except Exception as exc:  # AnalysisException: no such view
            raise EngineError(f"Spark: {str(exc).splitlines()[0]}") from None
        return {f.name: f.dataType.simpleString() for f in fields}

    def close(self) -> None:
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        self._views = []

    def _run(self, sql: str):
        translated = to_spark_sql(sql)
        try:
            return self.spark.sql(translated)
        except Exception as exc:
            raise EngineError(f"Spark: {str(exc).splitlines()[0]}\n  in: {translated[:2000]}") from None
