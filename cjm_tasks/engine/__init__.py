"""The relational work behind one interface: DuckDB embedded (the default) or Apache Spark.

Queries are written once, in DuckDB's SQL dialect (:mod:`cjm_tasks.engine.queries` and the
gate's checks); :class:`~cjm_tasks.engine.spark.SparkEngine` transpiles them to Spark SQL with
SQLGlot. Tables come in as Parquet files (the run's canonical inputs) or, for the in-memory
commands and small tables, as Arrow tables; results come out as Arrow tables (small: counts,
aggregates) or as Parquet files (large: the texts). pandas only ever holds small results.

``open_engine(config)`` gives the configured engine (``engine:`` in cjm.yaml); use it as a
context manager so DuckDB's temporary files and Spark's session are released.
"""

from cjm_tasks.engine.base import Engine, EngineError, open_engine
from cjm_tasks.engine.sql import ident, lit

__all__ = ["Engine", "EngineError", "ident", "lit", "open_engine"]
