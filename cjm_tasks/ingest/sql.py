"""A source read from a database: ``format: sql`` with a query bound to the period.

The query takes the period's bounds as ``:start`` and ``:end`` (timezone-aware timestamps at the
quarter's bounds in the source's timezone), so the database does the period cut::

    surveys:
      format: sql
      sql:
        url: ${SURVEYS_DB_URL}          # a SQLAlchemy URL, from the environment
        query: >-
          SELECT id, answered_at, question, score, comment FROM answers
          WHERE answered_at >= :start AND answered_at < :end ORDER BY id

``connection`` names an Airflow connection instead of a URL: read from ``AIRFLOW_CONN_<ID>``
when set, else from Airflow's connection store (only then is Airflow imported). Rows are fetched
in chunks of ``chunk_rows``; lineage records the query and a SHA-256 over the rows read (order
them in the query for a stable hash). Credentials never appear in messages or lineage.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from cjm_tasks.errors import DataError

if TYPE_CHECKING:
    from cjm_tasks.config import SourceConfig
    from cjm_tasks.periods import Period


def connection_url(name: str, source: SourceConfig) -> str:
    """The SQLAlchemy URL of the source (from ``url`` or the Airflow connection)."""
    sql = source.sql
    assert sql is not None
    if sql.url:
        url = sql.url
    else:
        env = f"AIRFLOW_CONN_{sql.connection.upper()}"  # type: ignore[union-attr]
        url = os.environ.get(env)
        if not url:
            try:
                from airflow.sdk import BaseHook
            except ImportError:
                raise DataError(name, sql.display(), f"connection {sql.connection!r}: set {env} to its URL, or run inside Airflow") from None
            try:
                url = BaseHook.get_connection(sql.connection).get_uri()
            except Exception as exc:  # Airflow raises its own AirflowNotFoundException
                raise DataError(name, sql.display(), f"connection {sql.connection!r} cannot be read from Airflow ({type(exc).__name__})") from None
    # Airflow writes PostgreSQL URIs as postgres://, which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return url


def read_query(name: str, source: SourceConfig, period: Period | None, project_tz: str,
               mapping: list[tuple[str, str, bool]]):
    """Run the source's query for ``period``; return (Arrow table of the result, InputFile)."""
    import pandas as pd
    import pyarrow as pa
    import sqlalchemy as sa

    from cjm_tasks.ingest.canonical import InputFile

    sql = source.sql
    assert sql is not None
    display = sql.display()
    if period is None:
        raise DataError(name, display, "a SQL source is read for a period (its query takes :start and :end)")
    tz = source.timezone or project_tz
    params = {"start": period.start(tz), "end": period.end(tz)}
    statement = sa.text(sql.query)
    unknown = set(statement.compile().params) - set(params)
    if unknown:
        raise DataError(name, display, f"the query uses parameter(s) {', '.join(sorted(':' + p for p in unknown))}; only :start and :end are bound")
    try:
        engine = sa.create_engine(connection_url(name, source))
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DataError(name, display, f"not a usable SQLAlchemy URL or driver ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    digest = hashlib.sha256()
    frames = []
    try:
        with engine.connect() as conn:
            for chunk in pd.read_sql_query(statement, conn, params=params, chunksize=sql.chunk_rows):
                for column in chunk.columns:
                    if chunk[column].dtype == object:
                        chunk[column] = chunk[column].map(lambda v: v if v is None or isinstance(v, str) else str(v))
                digest.update(pd.util.hash_pandas_object(chunk.astype("str"), index=False).to_numpy().tobytes())
                frames.append(chunk)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        # pandas wraps the driver's error; its first line says what the database said.
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None else exc
        orig = getattr(cause, "orig", None) or cause
        detail = str(orig).strip().splitlines()[0][:300] if str(orig).strip() else type(orig).__name__
        raise DataError(name, display, f"query failed: {type(orig).__name__}: {detail}") from None
    finally:
        engine.dispose()
    if not frames:
        raise DataError(name, display, f"the query returned no rows for {period}")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(name, display, f"the query returns column(s) {', '.join(map(repr, dup))} twice; give each a distinct alias")
    wanted = list(dict.fromkeys([fc for fc, _, _ in mapping if fc in frame.columns]))
    if source.row_id != "hash":
        frame = frame[wanted]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    info: InputFile = InputFile(location=display, rows=len(frame), sha256=digest.hexdigest(), query=sql.query)
    return table, info
