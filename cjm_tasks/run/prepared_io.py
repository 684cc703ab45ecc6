"""A prepared quarter in the run's workspace, so each persona's task reads only its slice.

``prepared/`` holds ``texts.parquet`` and ``matches.parquet`` (each text, and each catalog hit,
once per persona it belongs to and once as ``all``; sorted by persona in row groups, so a reader
of one persona skips the others'), ``aggregates/<table>.parquet`` (the stage counts of every
persona, small) and ``prepared.json`` (counts, unassigned customers, which sources had rows).
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from cjm_tasks import jsonio
from cjm_tasks.engine.journey import StageAggregates
from cjm_tasks.maps.distinct import among
from cjm_tasks.maps.personas import ALL_PERSONA
from cjm_tasks.maps.prepared import Prepared, strings_shared

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.storage import Storage

ROW_GROUP = 50_000


def save_prepared(prepared: Prepared, personas: list[str], storage: Storage, prefix: str) -> None:
    """Write ``prepared`` below ``prefix``, texts and matches tagged with each of ``personas``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The texts repeat (14k distinct of 1.28M at workload L): each row keeps the code of its text
    # and normalised text, and each distinct one is written once (strings/<column>.parquet).
    texts, strings = _coded(prepared.texts)
    coded = Prepared(prepared.aggregates, texts, prepared.text_personas, prepared.matches, prepared.counts, prepared.unassigned)
    for column, values in strings.items():
        out = io.BytesIO()
        pq.write_table(pa.table({"value": pa.array(values, type=pa.string())}), out)
        storage.write_bytes(f"{prefix}/strings/{column}.parquet", out.getvalue())
    for name, slice_of in (("texts", coded.texts_of), ("matches", lambda p: _matches_of(prepared, p))):
        buffer, writer = io.BytesIO(), None
        for persona in sorted(personas):
            part = pa.Table.from_pandas(slice_of(persona).assign(persona=persona), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(buffer, part.schema, compression="zstd")
            writer.write_table(part.cast(writer.schema) if part.schema != writer.schema else part, row_group_size=ROW_GROUP)
        if writer is not None:
            writer.close()
        storage.write_bytes(f"{prefix}/{name}.parquet", buffer.getvalue())
    for name, frame in prepared.aggregates.tables.items():
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out)
        storage.write_bytes(f"{prefix}/aggregates/{name}.parquet", out.getvalue())
    storage.write_bytes(f"{prefix}/prepared.json", jsonio.dumps({
        "counts": prepared.counts, "unassigned": prepared.unassigned, "personas": sorted(personas),
        "aggregates": sorted(prepared.aggregates.tables), "sources_with_rows": prepared.aggregates.sources_with_rows,
        "strings": sorted(strings)}))


CODED = ("text", "norm")


def _coded(texts: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list]]:
    """``texts`` with :data:`CODED` columns as int32 codes (-1: missing) into their distinct values."""
    import pandas as pd

    strings, out = {}, texts.copy(deep=False)
    for column in CODED:
        if column in texts.columns:
            codes, uniques = pd.factorize(texts[column], use_na_sentinel=True)
            out[column] = codes.astype("int32")
            strings[column] = list(uniques)
    return out, strings


def _decoded(texts: pd.DataFrame, strings: dict[str, object]) -> pd.DataFrame:
    """Codes back to text, one shared string per distinct value (None where missing)."""
    import numpy as np
    import pandas as pd

    for column, values in strings.items():
        codes = texts[column].to_numpy()
        decoded = values.take(np.where(codes < 0, 0, codes)) if len(values) else np.full(len(codes), None, dtype=object)
        decoded[codes < 0] = None
        texts[column] = pd.Series(decoded, index=texts.index, dtype=object)  # not inferred as an Arrow-backed str
    return texts


def _matches_of(prepared: Prepared, persona: str) -> pd.DataFrame:
    if persona == ALL_PERSONA:
        return prepared.matches
    return prepared.matches[among(prepared.matches["row"], prepared.rows_of(persona))]


def load_prepared(storage: Storage, prefix: str, persona: str | None = None) -> Prepared:
    """Read what :func:`save_prepared` wrote; with ``persona``, only that persona's rows."""
    meta = json.loads(storage.read_bytes(f"{prefix}/prepared.json"))
    wanted = persona or ALL_PERSONA
    strings = {column: _read(storage, f"{prefix}/strings/{column}.parquet", None)["value"].to_numpy(dtype=object)
               for column in meta.get("strings", [])}
    texts = _decoded(_read(storage, f"{prefix}/texts.parquet", wanted), strings)
    matches = _read(storage, f"{prefix}/matches.parquet", wanted)
    if persona is None:
        tagged = _read(storage, f"{prefix}/texts.parquet", None, ["row", "persona"])
        text_personas = tagged[tagged["persona"] != ALL_PERSONA].reset_index(drop=True)
    else:  # only this persona's: ``all`` has every text without a list
        text_personas = texts[["row"]].assign(persona=persona) if persona != ALL_PERSONA else texts[["row"]].assign(persona="")[0:0]
    aggregates = StageAggregates({name: _read(storage, f"{prefix}/aggregates/{name}.parquet",
                                              persona) for name in meta["aggregates"]}, meta["sources_with_rows"])
    counts = meta["counts"] if persona is None else {persona: meta["counts"][persona]} if persona in meta["counts"] else {}
    return Prepared(aggregates, texts.drop(columns="persona").reset_index(drop=True), text_personas,
                    matches.drop(columns="persona").reset_index(drop=True), counts, meta["unassigned"])


def _read(storage: Storage, key: str, persona: str | None, columns: list[str] | None = None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    filters: Any = [("persona", "=", persona)] if persona is not None else None
    # Text columns back as one shared string per distinct value, as the texts are held when
    # prepared in the same process.
    # A local file is read in place: only the row groups of the persona (sorted, with statistics).
    local = storage.local_path(key)
    source = str(local) if local is not None else pa.BufferReader(storage.read_bytes(key))
    return strings_shared(pq.read_table(source, filters=filters, columns=columns))
