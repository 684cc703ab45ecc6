"""Streaming a source to canonical Parquet in small batches gives the rows of the in-memory read:
the same columns, types, values and positions (``__row``), issues, records and files, for every
format and conversion, with every feature crossing batch boundaries; the Arrow conversion of clean
batches gives what pandas gives; the run's workspace keeps the streamed files, locally and on S3."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm_tasks.config import load_config
from cjm_tasks.errors import DataError, MissingInput
from cjm_tasks.ingest.arrow_convert import to_canonical_arrow
from cjm_tasks.ingest.canonical import ROW_COLUMN, InputFile, SourceData, string_mapper
from cjm_tasks.ingest.convert import to_canonical
from cjm_tasks.ingest.sources import read_source, stream_source
from cjm_tasks.periods import Period
from tests.conftest import write_config, write_small_inputs

Q3 = Period.parse("2025Q3")


def _config(tmp_path: Path, data: Path | None = None, **sources):
    return load_config(write_config(tmp_path / "cfg", data or tmp_path / "data", sources=sources))


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _same_as_in_memory(config, name: str, period: Period | None, tmp_path: Path, batch_rows: int = 3) -> tuple[SourceData, pq.ParquetFile]:
    """Stream ``name`` in batches of ``batch_rows`` and check it against the in-memory read."""
    memory = read_source(name, config, period)
    path = tmp_path / f"{name}-{batch_rows}.parquet"
    streamed = stream_source(name, config, period, path, batch_rows=batch_rows)
    assert streamed.frame is None and streamed.parquet == str(path)
    parquet = pq.ParquetFile(path)
    frame = parquet.read().to_pandas(types_mapper=string_mapper())
    positions = frame.pop(ROW_COLUMN)
    assert positions.tolist() == memory.frame.index.tolist()
    frame.index = memory.frame.index
    pd.testing.assert_frame_equal(frame, memory.frame, check_exact=True)
    assert streamed.rows == streamed.row_count == len(memory.frame)
    assert (streamed.rows_read, streamed.rows_outside_period, streamed.records) == (memory.rows_read, memory.rows_outside_period, memory.records)
    assert streamed.files == memory.files
    assert streamed.issues == memory.issues
    return streamed, parquet


# --------------------------------------------------------------------------- formats


def test_the_small_inputs_stream_as_they_read(tmp_path: Path):
    config = load_config(write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data")))
    for name in ("surveys", "reviews", "sales", "customers"):
        streamed, parquet = _same_as_in_memory(config, name, Q3, tmp_path, batch_rows=7)
        assert parquet.metadata.num_row_groups > 1
        assert parquet.schema_arrow.field(ROW_COLUMN).type == pa.int64()
        for file in streamed.files:  # hashed while the file was parsed
            assert file.sha256 == hashlib.sha256(Path(file.location).read_bytes()).hexdigest()


def test_csv_with_bom_delimiter_and_another_encoding(tmp_path: Path):
    rows = "".join(f"A{i};K{i % 4};2025-08-{1 + i:02d} 10:00;q_purchase_csat;{1 + i % 5};\"Долго; очень долго {i}\"\n" for i in range(11))
    bom = _write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + ("Antwort;Kunde;Zeit;Frage;Wert;Kommentar\n" + rows).encode("utf-8"))
    columns = {"Antwort": "response_id", "Kunde": "customer_id", "Zeit": "answered_at", "Frage": "question", "Wert": "score", "Kommentar": "comment"}
    config = _config(tmp_path, surveys={"location": str(bom), "csv": {"delimiter": ";"}, "columns": columns})
    streamed, _ = _same_as_in_memory(config, "surveys", Q3, tmp_path)
    assert pq.read_table(streamed.parquet)["response_id"][0].as_py() == "A0"
    text = "response_id,answered_at,question,score,comment\n" + "".join(f"S{i},2025-07-0{1 + i % 9} 02:00:00,q_purchase_csat,3,Очередь {i}\n" for i in range(10))
    cp = _write(tmp_path, "cp.csv", text.encode("cp1251"))
    config = _config(tmp_path, surveys={"location": str(cp), "csv": {"encoding": "cp1251"}, "timezone": "Europe/Moscow", "period_rows": "filter"})
    streamed, _ = _same_as_in_memory(config, "surveys", Q3, tmp_path)
    # 02:00 in Moscow on 1 July is still 2025Q2 in UTC, but the source's own timezone cuts the quarter.
    assert streamed.rows == 10 and pq.read_table(streamed.parquet)["comment"][0].as_py() == "Очередь 0"


def test_parquet_parts_with_a_typed_attribute_and_local_times(tmp_path: Path):
    for n in range(3):
        table = pa.table({
            "event_id": [f"E{n}-{i}" for i in range(5)],
            "customer_id": [f"C{i}" for i in range(5)],
            "occurred_at": pa.array([pd.Timestamp(f"2025-08-0{1 + i} 12:00") for i in range(5)], type=pa.timestamp("ms")),
            "event_type": ["site_visit", "order_placed", "no_such_event", None, "order_delivered"],
            "channel": ["web"] * 5,
            "amount": pa.array([None, 10, 20, None, 30], type=pa.int64()),
            "visits": pa.array([1, None, 3, 4, 5] if n != 1 else [None] * 5, type=pa.int32()),
        })
        (tmp_path / "data" / "sales").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp_path / "data" / "sales" / f"part-{n}.parquet")
    config = _config(tmp_path, sales={"location": str(tmp_path / "data/sales/*.parquet"), "attributes": ["visits"], "timezone": "Europe/Berlin"})
    streamed, parquet = _same_as_in_memory(config, "sales", Q3, tmp_path, batch_rows=2)
    schema = parquet.schema_arrow
    # The attribute keeps the Parquet type, even in a part where it is all empty.
    assert schema.field("visits").type == pa.int32() and schema.field("amount").type == pa.float64()
    assert schema.field("occurred_at").type == pa.timestamp("us", "UTC")
    assert pq.read_table(streamed.parquet)["occurred_at"][0].as_py() == pd.Timestamp("2025-08-01 10:00", tz="UTC")
    assert streamed.files[1].location.endswith("part-1.parquet") and streamed.files[1].rows == 5


def test_json_lines_with_a_mixed_type_field_and_bad_values_in_later_batches(tmp_path: Path):
    lines = []
    for i in range(12):
        # Batches of three lines: the first has no language and no rating, the last no timestamp,
        # yet every batch is written with the canonical types.
        rating = None if i < 3 else {4: "five", 8: "n/a"}.get(i, 1 + i % 5)
        lines.append({"review_id": f"R{i}", "customer_id": None if i % 3 == 0 else f"C{i}",
                      "published_at": None if i >= 9 else f"2025-07-{1 + i:02d}T10:00:00+03:00",
                      "rating": rating, "text": f"text {i}", "language": None if i < 3 else "en"})
    path = _write(tmp_path, "r.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    config = _config(tmp_path, reviews={"location": str(path)})
    streamed, parquet = _same_as_in_memory(config, "reviews", Q3, tmp_path)
    assert parquet.metadata.num_row_groups == 4
    types = {f.name: f.type for f in parquet.schema_arrow}
    assert (types["language"], types["rating"], types["published_at"]) == (pa.string(), pa.float64(), pa.timestamp("us", "UTC"))
    (issue,) = streamed.issues
    # "five" is in the second batch of three lines, "n/a" in the third.
    assert issue.column == "rating" and issue.count == 2 and issue.samples == ["five", "n/a"]
    assert issue.rows == [f"{path}, data row 5", f"{path}, data row 9"]


def test_invalid_json_in_a_later_piece_names_its_line_in_the_file(tmp_path: Path):
    good = json.dumps({"review_id": "R", "published_at": "2025-07-05T10:00:00Z", "rating": 5, "text": "ok"})
    path = _write(tmp_path, "r.jsonl", (good + "\n") * 7 + good.replace("}", "") + "\n")
    with pytest.raises(DataError) as info:
        stream_source("reviews", _config(tmp_path, reviews={"location": str(path)}), Q3, tmp_path / "r.parquet", batch_rows=3)
    assert info.value.location == f"{path}, line 8" and "not valid JSON" in str(info.value)
    assert not (tmp_path / "r.parquet").exists()


# --------------------------------------------------------------------------- survey layouts and ids


def test_a_wide_survey_melted_across_batches(tmp_path: Path):
    rows = "".join(f"W{i % 7},C{i},2025-07-{10 + i}T00:00:00Z,{'' if i % 3 == 0 else 4},{'' if i % 4 == 1 else 5},{i % 11}\n" for i in range(10))
    path = _write(tmp_path, "wide.csv", "rid,cid,date,Q1 found us,Q2 checkout,Q3 recommend\n" + rows)
    config = _config(tmp_path, surveys={
        "location": str(path), "columns": {"rid": "response_id", "cid": "customer_id", "date": "answered_at"},
        "melt": {"columns": {"Q1 found us": "q_awareness_found", "Q2 checkout": "q_purchase_csat", "Q3 recommend": "q_loyalty_nps"},
                 "variable": "question", "value": "score"},
    })
    streamed, parquet = _same_as_in_memory(config, "surveys", Q3, tmp_path)
    # W0..W6 answered, three of them twice (in other batches): each counts once.
    assert streamed.records == 7 and streamed.rows_read == streamed.rows > 10
    assert parquet.metadata.num_row_groups == 4


LONG_ROWS = [("A", "q_purchase_csat", "4"), ("A", "q_loyalty_nps", "9"), ("A", "comment", "Quick delivery, thanks"),
             ("B", "q_purchase_csat", "2"), ("B", "comment", "The courier never called"), ("B", "comment", "and was rude"),
             ("C", "q_loyalty_nps", "oops"), ("D", "comment", "only a text"), ("E", "q_purchase_csat", "5"),
             ("E", "q_loyalty_nps", "7"), ("E", "q_evaluation_info", "3"), ("E", "comment", "fine"), ("F", "q_purchase_csat", "1")]


def test_a_long_survey_keeps_each_response_in_one_batch_for_its_text_items(tmp_path: Path):
    text = "resp,cust,ts,item,value\n" + "".join(f"{r},c{r},{1752000000 + n * 3600},{q},\"{v}\"\n" for n, (r, q, v) in enumerate(LONG_ROWS))
    path = _write(tmp_path, "long.csv", text)
    config = _config(tmp_path, surveys={
        "location": str(path), "format": "csv", "layout": "long", "text_questions": ["comment"], "timestamp_format": "epoch_seconds",
        "columns": {"resp": "response_id", "cust": "customer_id", "ts": "answered_at", "item": "question", "value": "score"}})
    for batch_rows in (1, 2, 3):
        streamed, _ = _same_as_in_memory(config, "surveys", Q3, tmp_path, batch_rows=batch_rows)
        frame = pq.read_table(streamed.parquet).to_pandas()
        comments = dict(zip(frame["response_id"], frame["comment"]))
        assert comments["B:q_purchase_csat"] == "The courier never called\nand was rude"
        assert comments["E:q_loyalty_nps"] == "fine" and pd.isna(comments["F:q_purchase_csat"])
        assert streamed.records == 5 and [i.samples for i in streamed.issues] == [["oops"]]


def test_hashed_row_ids_rating_scales_and_constants(tmp_path: Path):
    rows = "".join(f"2025-08-{1 + i % 27:02d} 10:00,{1 + i % 10},\"Visit {i % 6}\",{'old' if i % 2 else 'new'}\n" for i in range(14))
    path = _write(tmp_path, "lounge.csv", "date,score,review,platform\n" + rows + "2025-08-01 10:00,1,\"Visit 0\",new\n")
    config = _config(tmp_path, reviews={
        "location": str(path), "format": "csv", "row_id": "hash", "attributes": ["platform"], "constants": {"stage": "purchase"},
        "columns": {"date": "published_at", "score": "rating", "review": "text"},
        "scale_by": {"column": "platform", "scales": {"old": [1, 5], "new": [1, 10]}}})
    streamed, _ = _same_as_in_memory(config, "reviews", Q3, tmp_path)
    table = pq.read_table(streamed.parquet)
    ids = table["review_id"].to_pylist()
    assert ids[0] == ids[-1] and len(set(ids)) == len(ids) - 1  # the duplicate row gets the same id
    assert {"rating_raw", "rating_low", "rating_high"} <= set(table.column_names)


@pytest.mark.parametrize(("fmt", "values"), [
    ("%d.%m.%Y %H:%M", [f"{1 + i:02d}.08.2025 10:{i:02d}" for i in range(8)]),
    ("epoch_seconds", [str(1754000000 + 86400 * i) for i in range(8)]),
    ("excel", [str(45870 + i + 0.25) for i in range(8)]),
    (None, [f"2025-08-0{1 + i}T10:00:00{'Z' if i < 4 else '+02:00'}" for i in range(8)]),
    (None, [f"2025-08-0{1 + i}T10:00:00" if i != 5 else "2025-08-06T10:00:00Z" for i in range(8)]),
])
def test_timestamp_formats(tmp_path: Path, fmt: str | None, values: list[str]):
    text = "response_id,answered_at,question,score\n" + "".join(f"S{i},{v},q_purchase_csat,3\n" for i, v in enumerate(values))
    path = _write(tmp_path, "s.csv", text)
    config = _config(tmp_path, surveys={"location": str(path), **({"timestamp_format": fmt} if fmt else {})})
    streamed, _ = _same_as_in_memory(config, "surveys", Q3, tmp_path)
    assert not streamed.issues and pq.read_table(streamed.parquet)["answered_at"].null_count == 0


@pytest.mark.parametrize("period_rows", ["filter", "require"])
def test_period_rows_filter_and_require(tmp_path: Path, period_rows: str):
    stamps = ["2025-06-30T23:59:59Z", "2025-07-01T00:00:00Z", "", "2025-08-01T00:00:00Z", "2025-10-01T00:00:00Z",
              "2025-09-30T23:59:59.999999Z", "2025-05-01T00:00:00Z", "bad time", "2025-12-01T00:00:00Z", "2025-07-02T00:00:00Z"]
    text = "response_id,answered_at,question,score\n" + "".join(f"S{i},{s},q_purchase_csat,{'x' if i in (4, 5) else 3}\n" for i, s in enumerate(stamps))
    path = _write(tmp_path, "s.csv", text)
    config = _config(tmp_path, surveys={"location": str(path), "period_rows": period_rows})
    streamed, _ = _same_as_in_memory(config, "surveys", Q3, tmp_path)
    if period_rows == "filter":
        assert streamed.rows == 6 and streamed.rows_outside_period == 4
        # The bad score outside the quarter (row 5) is not the quarter's issue; row 6's is.
        assert [i.rows for i in streamed.issues if i.column == "score"] == [[f"{path}, data row 6"]]
    else:
        assert streamed.rows == 10 and streamed.rows_outside_period == 0


def test_conversion_issues_in_the_second_and_third_batch_are_merged_in_order(tmp_path: Path):
    scores = ["3"] * 4 + ["x1"] + ["3"] * 2 + ["x2", "x3", "x4", "x5", "x6", "x7"]
    stamps = ["2025-07-01T00:00:00Z"] * 6 + ["yesterday"] + ["2025-07-01T00:00:00Z"] * 6
    text = "response_id,answered_at,question,score\n" + "".join(f"S{i},{t},q_purchase_csat,{s}\n" for i, (t, s) in enumerate(zip(stamps, scores)))
    path = _write(tmp_path, "s.csv", text)
    streamed, _ = _same_as_in_memory(_config(tmp_path, surveys={"location": str(path)}), "surveys", Q3, tmp_path)
    stamp, score = streamed.issues  # in the order the columns are converted, though "x1" came first
    assert (stamp.column, stamp.count, stamp.samples, stamp.rows) == ("answered_at", 1, ["yesterday"], [f"{path}, data row 7"])
    assert score.column == "score" and score.count == 7 and score.samples == ["x1", "x2", "x3", "x4", "x5"]
    assert score.rows == [f"{path}, data row {n}" for n in (5, 8, 9, 10, 11)]


def test_an_ambiguous_local_time_in_a_later_batch(tmp_path: Path):
    stamps = [f"2025-11-0{1 + i % 3} 0{i % 3}:30:00" for i in range(5)] + ["2025-11-02 01:30:00"]
    text = "response_id,answered_at,question,score\n" + "".join(f"S{i},{s},q_purchase_csat,3\n" for i, s in enumerate(stamps))
    path = _write(tmp_path, "s.csv", text)
    config = _config(tmp_path, surveys={"location": str(path), "timezone": "America/New_York"})
    streamed, _ = _same_as_in_memory(config, "surveys", Period.parse("2025Q4"), tmp_path)
    (issue,) = streamed.issues
    # 01:30 on 2 November happened twice in New York: rows 2 and 5 (first and second batch), and 6.
    assert "daylight-saving" in issue.expected and issue.rows == [f"{path}, data row {n}" for n in (2, 5, 6)]


# --------------------------------------------------------------------------- bounded memory, S3


def test_a_source_bigger_than_a_batch_is_written_a_batch_at_a_time(tmp_path: Path):
    config = load_config(write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data", rows=40)))
    streamed = stream_source("sales", config, Q3, tmp_path / "sales.parquet", batch_rows=7)
    metadata = pq.ParquetFile(tmp_path / "sales.parquet").metadata
    sizes = [metadata.row_group(n).num_rows for n in range(metadata.num_row_groups)]
    # 200 rows in two files of 100: 14 + 1 row groups each, none bigger than a batch.
    assert streamed.rows == sum(sizes) == 200 and max(sizes) == 7 and metadata.num_row_groups == 30


def test_an_s3_source_streams_as_the_local_one(tmp_path: Path, bucket: str, s3_env: str):
    data = write_small_inputs(tmp_path / "data")
    client = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")
    for path in data.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"exports/{path.relative_to(data).as_posix()}")
    remote = load_config(write_config(tmp_path / "cfg-s3", f"s3://{bucket}/exports", s3={"endpoint_url": "${CJM_S3_ENDPOINT_URL}"}))
    local = load_config(write_config(tmp_path / "cfg-local", data))
    for name in ("surveys", "reviews", "sales", "customers"):
        got = stream_source(name, remote, Q3, tmp_path / f"{name}-s3.parquet", batch_rows=9)
        want = stream_source(name, local, Q3, tmp_path / f"{name}.parquet", batch_rows=9)
        assert pq.read_table(got.parquet).equals(pq.read_table(want.parquet))
        assert [f.sha256 for f in got.files] == [f.sha256 for f in want.files]
        assert got.files[0].location.startswith(f"s3://{bucket}/exports/")


# --------------------------------------------------------------------------- the Arrow conversion


CLEAN = {
    "response_id": ["S1", "S2", None, "S4"],
    "customer_id": [None, None, None, None],
    "question": ["q_purchase_csat", "q_loyalty_nps", "unknown_question", None],
    "score": ["4", "1e1", None, "-0.5"],
    "channel": ["web", None, "app", "web"],
}


@pytest.mark.parametrize(("column", "values", "tz"), [
    ("answered_at", ["2025-07-01T10:00:00Z", "2025-07-01T10:00:00+03:00", None, "2025-07-01 10:00:00.123456-01:30"], "UTC"),
    ("answered_at", ["2025-07-01T10:00:00", "2025-07-01", None, "2025-07-01 23:59:59.5"], "Europe/Moscow"),
    ("answered_at", pa.array([pd.Timestamp("2025-07-01 10:00")] * 3 + [None], pa.timestamp("ns")), "America/New_York"),
    ("answered_at", pa.array([pd.Timestamp("2025-07-01 10:00", tz="Asia/Tokyo")] * 4, pa.timestamp("s", "Asia/Tokyo")), "UTC"),
])
def test_the_arrow_conversion_gives_what_pandas_gives(tmp_path: Path, column: str, values, tz: str):
    config = _config(tmp_path, surveys={"location": "x.csv", "timezone": tz, "constants": {"channel": "web", "comment": "none"}})
    table = pa.table({**CLEAN, column: values})
    arrow = to_canonical_arrow(table, "surveys", config.sources["surveys"], config)
    assert arrow is not None
    data = SourceData(name="surveys", frame=table.to_pandas(types_mapper=string_mapper()), files=[InputFile("x.csv", 4, "")], rows_read=4)
    frame = to_canonical(data, config.sources["surveys"], config)
    from_pandas = pa.table({c: pa.Array.from_pandas(frame[c]) for c in frame.columns})
    assert arrow.column_names == from_pandas.column_names
    for name in arrow.column_names:
        assert arrow[name].cast(from_pandas[name].type, safe=False).to_pylist() == from_pandas[name].to_pylist(), name
    assert all(not bad.any() for _, _, _, bad in data.pending)


@pytest.mark.parametrize(("column", "values"), [
    ("score", ["4", "nan", None, "3"]),          # pandas reports "nan" as not a number
    ("score", [" 4", "3", None, "2"]),           # pandas strips spaces
    ("answered_at", ["2025-07-01T10:00:00Z", "2025-07-01T10:00:00", None, None]),  # pandas reads both as UTC
    ("answered_at", ["2025-11-02 01:30:00"] * 4),  # ambiguous in New York
])
def test_what_arrow_would_convert_differently_is_left_to_pandas(tmp_path: Path, column: str, values: list):
    config = _config(tmp_path, surveys={"location": "x.csv", "timezone": "America/New_York"})
    table = pa.table({**CLEAN, "answered_at": ["2025-07-01T10:00:00Z"] * 4, column: values})
    assert to_canonical_arrow(table, "surveys", config.sources["surveys"], config) is None


# --------------------------------------------------------------------------- the run's workspace


def test_the_read_step_streams_into_a_local_workspace(tmp_path: Path):
    from cjm_tasks.run.steps import read_source as read_step
    from cjm_tasks.run.workspace import Workspace

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "empty.jsonl").write_bytes(b"")
    config = load_config(write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"),
                                      sources={"reviews": {"location": str(tmp_path / "data" / "empty.jsonl")}}))
    workspace = Workspace.create(config, "run-1")
    keys = [read_step(workspace, "2025Q3", name) for name in ("surveys", "sales", "reviews")]
    data, unreadable = workspace.load_sources(keys)
    # An unreadable file is left for the gate to report with the other sources' checks ...
    assert list(unreadable) == ["reviews"] and "empty" in unreadable["reviews"].detail
    # ... but a source without any file stops at its read: there is nothing of it to check.
    (tmp_path / "data" / "empty.jsonl").unlink()
    with pytest.raises(MissingInput, match="reviews: .*empty.jsonl: no file matches this location"):
        read_step(workspace, "2025Q3", "reviews")
    sales = data["sales"]
    assert sales.frame is None and sales.parquet == str(tmp_path / "cfg" / "work" / "runs" / "run-1" / "inputs" / "sales.parquet")
    memory = read_source("sales", config, Q3)
    assert sales.rows == len(memory.frame) and sales.files == memory.files
    assert pq.read_table(sales.parquet).drop_columns([ROW_COLUMN]).to_pandas(types_mapper=string_mapper()).equals(memory.frame)
    assert not [p for p in (tmp_path / "cfg" / "work" / "runs" / "run-1" / "inputs").iterdir() if p.name.startswith(".")]


def test_an_s3_workspace_uploads_and_loads_through_a_cache(tmp_path: Path, bucket: str, s3_env: str, monkeypatch: pytest.MonkeyPatch):
    import tempfile

    from cjm_tasks.run.steps import read_source as read_step
    from cjm_tasks.run.workspace import Workspace

    # The run's cache goes below the temporary folder: this test's own.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    storage = {"work": f"s3://{bucket}/work", "versions": f"s3://{bucket}/store", "site": f"s3://{bucket}/site"}
    config = load_config(write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"), storage=storage,
                                      s3={"endpoint_url": "${CJM_S3_ENDPOINT_URL}"}))
    run_id = f"run-{bucket}"
    workspace = Workspace.create(config, run_id)
    key = read_step(workspace, "2025Q3", "surveys")
    assert workspace.storage.exists("inputs/surveys.parquet")
    first = workspace.load_sources([key])[0]["surveys"]
    assert Path(first.parquet).is_file() and Path(first.parquet).is_relative_to(tmp_path / "tmp" / "cjm-cache" / run_id)
    before = Path(first.parquet).stat().st_mtime_ns
    again = workspace.load_sources([key])[0]["surveys"]
    assert again.parquet == first.parquet and Path(again.parquet).stat().st_mtime_ns == before  # not downloaded again
    assert pq.read_table(first.parquet).num_rows == first.rows == len(read_source("surveys", config, Q3).frame)


def _sales_parts(folder: Path, rows: list[dict], parts: int, fmt: str) -> None:
    """``rows`` of sales split into ``parts`` files of ``fmt`` (Parquet: two row groups a file, so
    each holds dictionaries of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(rows) // parts)
    for n in range(parts):
        frame = pd.DataFrame(rows[n * size:(n + 1) * size])
        if fmt == "parquet":
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"part-{n}.parquet", row_group_size=max(1, len(frame) // 2))
        else:
            frame.to_csv(folder / f"part-{n}.csv", index=False)


def test_parquet_labels_read_as_dictionaries_give_what_their_text_gives(tmp_path: Path):
    """Event types and channels of a Parquet source are read as dictionaries, the stage looked up
    on them: the workspace holds the same rows, as text, as the same sales read from CSV (no
    dictionary anywhere), with unmapped and missing event types, missing channels, dictionaries
    that differ by file and row group, batches cut inside row groups, and a value mapping that
    sends every batch through pandas."""
    from cjm_tasks.ingest.arrow_convert import to_canonical_arrow
    from cjm_tasks.ingest.files import LocalFile, file_tables

    kinds = ["site_visit", "order_placed", "no_such_event", None, "order_delivered", "add_to_cart", "product_view"]
    channels = ["web", "app", None, "store", "web"]
    rows = [{"event_id": f"E{i}", "customer_id": f"C{i % 7}", "occurred_at": f"2025-08-{1 + i % 28:02d}T12:00:00Z",
             "event_type": kinds[(i * 3) % len(kinds)] if i < 40 else kinds[i % 2], "channel": channels[i % len(channels)],
             "amount": float(i)} for i in range(60)]
    _sales_parts(tmp_path / "pq", rows, 3, "parquet")
    _sales_parts(tmp_path / "csv", rows, 3, "csv")
    for values in ({}, {"channel": {"app": "mobile"}}):
        parquet_config = _config(tmp_path / "a", sales={"location": str(tmp_path / "pq/*.parquet"), "values": values})
        csv_config = _config(tmp_path / "b", sales={"location": str(tmp_path / "csv/*.csv"), "format": "csv", "values": values})
        streamed, parquet = _same_as_in_memory(parquet_config, "sales", Q3, tmp_path / "a", batch_rows=4)
        from_csv = stream_source("sales", csv_config, Q3, tmp_path / "b" / "sales.parquet", batch_rows=4)
        got, want = pq.read_table(streamed.parquet), pq.read_table(from_csv.parquet)
        assert got.equals(want), (got.to_pandas().compare(want.to_pandas()))
        assert got.schema.field("event_type").type == got.schema.field("stage").type == got.schema.field("channel").type == pa.string()
        assert got["stage"].null_count == sum(r["event_type"] in (None, "no_such_event") for r in rows)
        assert (streamed.rows, streamed.issues) == (from_csv.rows, from_csv.issues)

    # The labels came as dictionaries, and the stage was looked up without turning them into text.
    config = _config(tmp_path / "c", sales={"location": str(tmp_path / "pq/*.parquet")})
    file = LocalFile("part-0.parquet", tmp_path / "pq" / "part-0.parquet", None)
    batch = next(iter(file_tables("sales", config.sources["sales"], file, ["event_id", "customer_id", "occurred_at", "event_type", "channel",
                                                                            "amount"], 1000, {"event_id", "customer_id"}, {"event_type", "channel"})))
    assert pa.types.is_dictionary(batch.schema.field("event_type").type) and not pa.types.is_dictionary(batch.schema.field("event_id").type)
    converted = to_canonical_arrow(batch, "sales", config.sources["sales"], config)
    assert converted is not None and pa.types.is_dictionary(converted.schema.field("stage").type)
    assert converted["stage"].cast(pa.string()).to_pylist() == [config.event_stage.get(k) for k in batch["event_type"].cast(pa.string()).to_pylist()]


def test_a_parquet_label_longer_than_the_limit_names_its_row(tmp_path: Path):
    """A label read as a dictionary is checked against ``max_field_bytes`` like any text: the
    error names the file and row of the first value too long, not a dictionary entry."""
    rows = [{"event_id": f"E{i}", "customer_id": "C1", "occurred_at": "2025-08-01T12:00:00Z",
             "event_type": "x" * 300 if i == 13 else "site_visit", "channel": "web", "amount": 1.0} for i in range(20)]
    _sales_parts(tmp_path / "pq", rows, 1, "parquet")
    config = _config(tmp_path, sales={"location": str(tmp_path / "pq/*.parquet"), "limits": {"max_field_bytes": "200B"}})
    with pytest.raises(DataError, match=r"part-0\.parquet, data row 14: column 'event_type' holds a value of 300B, longer than the 200B"):
        stream_source("sales", config, Q3, tmp_path / "sales.parquet", batch_rows=8)
    assert not (tmp_path / "sales.parquet").exists()
