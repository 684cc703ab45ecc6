"""A quarter prepared for its maps: personas assigned, every count the stage metrics need, and the
texts analysed once. The relational work runs in the engine (:mod:`cjm_tasks.engine.personas`,
:mod:`cjm_tasks.engine.journey`) over the canonical tables registered as views; the text work
(:mod:`cjm_tasks.maps.text_features`) runs on the texts only, never on the event tables.

:func:`prepare` takes an engine with the sources registered (the run's steps register the
streamed Parquet files); :func:`prepare_inputs` does it for tables held in memory (``cjm build``,
tests and benchmarks) with an embedded DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cjm_tasks.config import CjmConfig
from cjm_tasks.engine.base import EngineError
from cjm_tasks.engine.sql import ident
from cjm_tasks.engine.journey import TEXT_COLUMNS, StageAggregates, create_texts, stage_aggregates
from cjm_tasks.engine.personas import CUSTOMER_ROWS, CUSTOMERS, MEMBERS, assign_personas, create_customers, persona_numbers
from cjm_tasks.maps.distinct import among, positions_by
from cjm_tasks.maps.personas import ALL_PERSONA
from cjm_tasks.maps.text_features import analyse_texts, catalog_matcher

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cjm_tasks.engine.base import Engine

SOURCES = ("surveys", "reviews", "sales", "customers")


@dataclass
class Inputs:
    """The canonical tables of one period held in memory (any of them may be missing)."""

    surveys: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    sales: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None


@dataclass
class Prepared:
    """A period ready for per-persona maps.

    ``aggregates``: the stage counts of every persona; ``texts``: one row per text (``row``), with
    ``norm``, ``sentiment``, its stage and its writer ``who`` (:func:`~cjm_tasks.maps.barriers.with_keys`); ``text_personas``: (row, persona) for every persona
    but ``all`` (every text is ``all``'s); ``matches``: the catalog hits by text ``row``;
    ``counts``: active customers per persona (``all`` included).
    """

    aggregates: StageAggregates
    texts: pd.DataFrame
    text_personas: pd.DataFrame
    matches: pd.DataFrame
    counts: dict[str, int]
    unassigned: int

    def personas(self, config: CjmConfig) -> list[str]:
        return [p.id for p in config.personas.personas] + [ALL_PERSONA]

    @cached_property
    def _rows_by_persona(self) -> dict[str, np.ndarray]:
        """The text rows of every persona, from ``text_personas`` grouped once (comparing every
        row's persona for each persona took longer than a map's own work with 32 personas)."""
        import numpy as np

        rows = self.text_personas["row"].to_numpy(dtype=np.int64)
        return {name: rows[at] for name, at in positions_by(self.text_personas["persona"]).items()}

    def rows_of(self, persona: str) -> np.ndarray:
        """The text rows of a persona but ``all`` (whose are every text's), in table order."""
        import numpy as np

        return self._rows_by_persona.get(persona, np.zeros(0, dtype=np.int64))

    @cached_property
    def _rows_are_positions(self) -> bool:
        """Whether each text's ``row`` is its position in ``texts`` (a prepared quarter's are; a
        persona's slice read from the workspace holds other numbers)."""
        import numpy as np

        return bool(np.array_equal(self.texts["row"].to_numpy(dtype=np.int64), np.arange(len(self.texts), dtype=np.int64)))

    def texts_for(self, persona: str) -> pd.DataFrame:
        """The texts of ``persona``: for ``all`` the table itself, not a copy. Taken by position
        when rows are positions (ascending, as :meth:`rows_of` gives them): a mask over every
        text for each persona cost a small map as much as its own work with 32 personas."""
        if persona == ALL_PERSONA:
            return self.texts
        rows = self.rows_of(persona)
        if self._rows_are_positions and (len(rows) < 2 or bool((rows[1:] > rows[:-1]).all())):
            return self.texts.take(rows)
        return self.texts[among(self.texts["row"], rows)]

    def texts_of(self, persona: str) -> pd.DataFrame:
        """The texts of ``persona`` with a ``persona`` column."""
        import numpy as np
        import pandas as pd

        texts = self.texts_for(persona)
        # An object column like the others (a plain string would make an Arrow-backed one, slow to take from).
        return texts.assign(persona=pd.Series(np.full(len(texts), persona, dtype=object), index=texts.index, dtype=object))


def registered_views(engine: Engine) -> dict[str, list[str]]:
    """The sources registered in ``engine`` (view name -> columns)."""
    views = {}
    for name in SOURCES:
        try:
            views[name] = list(engine.columns(name))
        except EngineError:  # not registered: the source is not configured
            continue
    return views


def prepare(engine: Engine, config: CjmConfig, views: dict[str, list[str]] | None = None) -> Prepared:
    """Assign personas, count every stage metric of every persona, and analyse every text once,
    over the sources registered in ``engine`` (``views``: name -> columns, default: ask the
    engine). Raises :class:`~cjm_tasks.maps.personas.RuleError` when a persona rule cannot be applied.
    """
    from concurrent.futures import ThreadPoolExecutor

    views = views if views is not None else registered_views(engine)
    with ThreadPoolExecutor(1) as pool:
        customers = create_customers(engine, config, views)
        membership = assign_personas(engine, config.personas, str(config.files.get("personas", "personas.yaml")))
        aggregates = stage_aggregates(engine, config, views, customers.pairs)
        # The matcher (word forms, a fitted similarity model) depends only on the configuration:
        # built while the engine collects the texts, whose joins and windows keep 1.4 of the two
        # cores busy (the customers and the counts keep 1.75: built beside them, as before, it
        # slowed them by more than it took; at L prepare 9.35 -> 8.93 s, the matcher ready when
        # the texts are).
        matcher = pool.submit(_ready_matcher, config)
        texts, text_personas = collect_texts_from(engine, config, views)
        # Every count is taken: what the engine holds (up to its memory limit) is let go before the text work.
        for table in _WORK_TABLES:
            engine.drop(table)
        texts, matches = analyse_texts(texts, config, matcher.result())
    counts = dict(membership.counts)
    counts[ALL_PERSONA] = membership.customers
    return Prepared(aggregates, texts, text_personas, matches, counts, membership.unassigned)


def _ready_matcher(config: CjmConfig):
    """The configuration's catalog matcher with its keywords' word forms looked up."""
    matcher = catalog_matcher(config)
    matcher.look_up_word_forms()
    return matcher


# The tables prepare makes in the engine (what create_customers, assign_personas and the texts materialize).
_WORK_TABLES = ("cjm_texts", "cjm_text_later", "cjm_text_rows", MEMBERS, CUSTOMERS, CUSTOMER_ROWS, "cjm_sales_customers", "cjm_active", "cjm_master",
                "cjm_latest", "cjm_attr_long", "cjm_attr_pick")


def collect_texts_from(engine: Engine, config: CjmConfig, views: dict[str, list[str]],
                       personas: bool = True, refs: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The quarter's texts (:func:`cjm_tasks.engine.journey.create_texts`), numbered ``row`` 0,
    1, ... in input order, with their writer ``who`` (:func:`~cjm_tasks.maps.barriers.with_keys`:
    customers numbered by id from 0, a text without one ``-1 - row``), and, after the personas
    were assigned, their (row, persona) (else an empty table). ``refs``: keep each text's ``ref``
    (its response or review id) and ``customer_id``; the maps read neither, and at ten million
    texts they are the largest columns.

    The writers are numbered and the rows joined to their personas by the engine; the texts come
    over in batches, so neither the ids nor the whole table in Arrow are ever held in memory."""
    import numpy as np
    import pandas as pd

    no_personas = pd.DataFrame({"row": pd.Series([], dtype="int64"), "persona": pd.Series([], dtype="object")})
    if not create_texts(engine, config, views):
        empty = pd.DataFrame({c: pd.Series([], dtype="object") for c in ["row", *TEXT_COLUMNS] if c not in ("ref", "customer_id") or refs})
        empty["row"] = empty["row"].astype("int64")
        empty["who"] = pd.Series([], dtype="int64")
        return _finish(empty), no_personas
    # Customers numbered in id order (a text without one is numbered in pandas, by its row).
    # When a customer is in one persona at most (membership ``first``), the writers also carry
    # their persona, so the texts come over with it: a second join of every text with the
    # members, for the tags alone, spilled at ten times workload L (8.8 s of the texts' 34 s).
    one_persona = personas and config.personas.membership == "first"
    persona, members = (", m.persona_no", f" LEFT JOIN {MEMBERS} m ON m.customer_id = w.customer_id") if one_persona else ("", "")
    engine.materialize("cjm_text_writers", f"SELECT w.customer_id, row_number() OVER (ORDER BY w.customer_id) - 1 AS who{persona} "
                                           f"FROM (SELECT DISTINCT customer_id FROM cjm_texts WHERE customer_id IS NOT NULL) w{members}")
    wanted = [c for c in TEXT_COLUMNS if c not in ("ref", "customer_id") or refs]
    total = int(engine.query("SELECT count(*) AS n FROM cjm_texts").column(0)[0].as_py())
    columns = ", ".join(f"t.{ident(c)}" for c in wanted)
    tag = f", CAST(COALESCE(w.persona_no, {_NO_PERSONA}) AS INTEGER) AS _persona" if one_persona else ""
    texts = frame_in_batches(engine.batches(f"SELECT {columns}, CAST(COALESCE(w.who, -1) AS BIGINT) AS who{tag}, t._o FROM cjm_texts t "
                                            "LEFT JOIN cjm_text_writers w ON w.customer_id = t.customer_id", BATCH_ROWS), total, ["_o"])
    engine.drop("cjm_text_writers")
    order = texts.pop("_o").to_numpy()
    texts.insert(0, "row", np.arange(len(texts), dtype="int64"))
    who = np.array(texts["who"].to_numpy(), dtype=np.int64)  # 64 bits whatever the engine gave (Spark: 32)
    anonymous = who < 0
    who[anonymous] = -1 - texts["row"].to_numpy()[anonymous]
    texts["who"] = who
    if not personas:
        return _finish(texts), no_personas
    names = persona_numbers(config.personas)
    lookup = np.array([names.get(n) for n in range(max(names) + 1)], dtype=object)
    if one_persona:
        # Each text's persona, or none, already in row order.
        number = np.array(texts.pop("_persona").to_numpy(), dtype=np.int64)
        tagged_rows = np.flatnonzero(number != _NO_PERSONA)
        return _finish(texts), pd.DataFrame({"row": tagged_rows.astype("int64"), "persona": lookup[number[tagged_rows]]})
    count = int(engine.query(f"SELECT count(*) AS n FROM cjm_texts t JOIN {MEMBERS} m ON m.customer_id = t.customer_id").column(0)[0].as_py())
    # The personas by number (sorted here: see frame_in_batches), named in numpy.
    numbered = frame_in_batches(engine.batches(f"SELECT t._o, m.persona_no FROM cjm_texts t JOIN {MEMBERS} m "
                                               "ON m.customer_id = t.customer_id", BATCH_ROWS), count)
    by_name = np.argsort(np.argsort(lookup.astype(str), kind="stable"))  # each number's place in name order
    at, number = numbered["_o"].to_numpy(dtype=np.int64), numbered["persona_no"].to_numpy(dtype=np.int64)
    del numbered
    keys = [at, by_name[number]]
    if not _ascending(keys):
        taken = _sorting(keys)
        at, number = at[taken], number[taken]
    # A text's row is its place in input order (``order`` ascends).
    tagged = pd.DataFrame({"row": np.searchsorted(order, at).astype("int64"), "persona": lookup[number]})
    return _finish(texts), tagged


BATCH_ROWS = 1 << 20  # rows of a result converted at once
_NO_PERSONA = -2  # a text whose writer is in no persona (persona numbers are 0, 1, ...; ALL_NUMBER is -1)


def frame_in_batches(reader, total: int, order_by: list[str] | None = None) -> pd.DataFrame:
    """A query's result (an Arrow record batch reader of ``total`` rows) as a frame, converted a
    batch at a time into columns allocated once (:func:`strings_shared`: one Python string per
    distinct value of a batch). ``order_by``: columns without missing values to sort the rows by
    (ascending, the first first), here rather than in the query: the engine sorted the rows with
    all their columns (every text, at ten times workload L 5 s, spilling), where the rows mostly
    come in that order already (checked; else the keys are sorted and each column is taken once,
    one at a time)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    arrays: dict[str, np.ndarray] = {}
    zones: dict[str, object] = {}
    at = 0
    for batch in reader:
        part = strings_shared(pa.Table.from_batches([batch]))
        for name in part.columns:
            column = part[name]
            if isinstance(column.dtype, pd.DatetimeTZDtype):
                zones[name] = column.dtype.tz
                values = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            else:
                values = column.to_numpy()
            if name not in arrays:
                arrays[name] = np.empty(total, dtype=values.dtype)
            elif values.dtype != arrays[name].dtype:  # a later batch of another type (all missing, say)
                arrays[name] = arrays[name].astype(np.result_type(arrays[name].dtype, values.dtype) if values.dtype != object
                                                   and arrays[name].dtype != object else object)
            arrays[name][at:at + len(values)] = values
        at += batch.num_rows
    if at != total:
        raise EngineError(f"the engine gave {at} rows where it counted {total}")
    if order_by and total > 1:
        keys = [_sort_key(arrays[name]) for name in order_by]
        if not _ascending(keys):
            taken = _sorting(keys)
            del keys
            for name in list(arrays):
                arrays[name] = arrays[name][taken]
    if not arrays:
        return strings_shared(reader.schema.empty_table())
    # Object columns stay object (a frame made of them would infer Arrow-backed strings, slow to take from).
    frame = pd.DataFrame({name: pd.Series(values, dtype=values.dtype, copy=False) for name, values in arrays.items()}, copy=False)
    for name, zone in zones.items():
        frame[name] = frame[name].dt.tz_localize("UTC").dt.tz_convert(zone)
    return frame


def _sort_key(values: np.ndarray) -> np.ndarray:
    """Integers ordered as ``values`` are (text as codes of its sorted distinct values)."""
    import numpy as np
    import pandas as pd

    if values.dtype == object:
        return pd.factorize(values, sort=True)[0].astype(np.int64)
    return values


def _sorting(keys: list[np.ndarray]) -> np.ndarray:
    """The positions that sort rows by ``keys`` (the first first), stably: one stable sort per key,
    the last first (numpy's stable sort of integers runs on the ordered stretches the engine's
    threads give, where ``lexsort`` sorted everything: 0.02 s against 1.4 s at ten million texts)."""
    import numpy as np

    taken = None
    for key in reversed(keys):
        step = np.argsort(key if taken is None else key[taken], kind="stable")
        taken = step if taken is None else taken[step]
    return taken


def _ascending(keys: list[np.ndarray]) -> bool:
    """Whether rows are in ascending order of ``keys`` (the first first; equal rows in any order)."""
    tied = None  # neighbours equal on every key so far
    for key in keys:
        later, earlier = key[1:], key[:-1]
        down = later < earlier
        if tied is not None:
            down &= tied
        if bool(down.any()):
            return False
        same = later == earlier
        tied = same if tied is None else tied & same
        if not bool(tied.any()):
            break
    return True


def strings_shared(table) -> pd.DataFrame:
    """An Arrow table as a frame whose text columns hold one Python string per distinct value,
    shared by every row holding it (8 bytes a row instead of a copy per row; the text work also
    recognises repeats by identity). Missing values are None."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            encoded = pc.dictionary_encode(column).combine_chunks()
            values = encoded.dictionary.to_numpy(zero_copy_only=False)
            missing = encoded.indices.is_null().to_numpy(zero_copy_only=False)
            if len(values):
                shared = values.take(encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype("int64"))
                shared[missing] = None
            else:
                shared = np.full(len(column), None, dtype=object)
            columns[name] = pd.Series(shared, dtype="object")
        else:
            columns[name] = column.to_pandas()
    return pd.DataFrame(columns)


def _finish(texts: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    for column in ("customer_id", "stage", "language", "source", "text", "kind", "ref"):
        if column in texts.columns and texts[column].dtype != object:
            texts[column] = texts[column].astype("object").where(texts[column].notna(), None)
    for column in ("score01", "rating"):
        texts[column] = pd.to_numeric(texts[column], errors="coerce").astype("float64")
    texts["row"] = texts["row"].astype("int64")
    texts["stage_given"] = texts["stage"].notna().to_numpy(dtype=np.bool_)
    return texts.reset_index(drop=True)


def collect_texts(inputs: Inputs, config: CjmConfig) -> pd.DataFrame:
    """Survey comments and reviews of in-memory tables as one table of texts (see
    :func:`cjm_tasks.engine.journey.create_texts`)."""
    from cjm_tasks.engine import open_engine

    with open_engine(config, kind="duckdb") as engine:
        views = register_inputs(engine, inputs)
        return collect_texts_from(engine, config, views, personas=False, refs=True)[0]


def register_inputs(engine: Engine, inputs: Inputs) -> dict[str, list[str]]:
    """In-memory tables as engine views, with ``__row`` from their index; returns view -> columns."""
    from cjm_tasks.engine.inputs import frame_table

    views = {}
    for name in SOURCES:
        frame = getattr(inputs, name)
        if frame is None:
            continue
        table = frame_table(frame)
        engine.register_arrow(name, table)
        views[name] = table.column_names
    return views


def prepare_inputs(inputs: Inputs, config: CjmConfig) -> Prepared:
    """:func:`prepare` on tables held in memory, with the configured engine."""
    from cjm_tasks.engine import open_engine

    with open_engine(config) as engine:
        return prepare(engine, config, register_inputs(engine, inputs))
