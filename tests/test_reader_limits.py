"""Every reader is bounded and safe (issue 15): a hostile or careless file, written to a folder and
read by the reader a refresh uses (``stream_source``, and ``read_source`` where they differ),
stops with a :class:`DataError` (exit code 1) that names the file, the line or row, the column
and the setting to raise; it never crashes the process, never reaches ``unexpected error`` and
never gives pyarrow's advice about block sizes, which no setting controls."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm_tasks.config import load_config
from cjm_tasks.errors import ConfigError, DataError
from cjm_tasks.ingest.limits import json_depth
from cjm_tasks.ingest.sources import read_source, stream_source
from cjm_tasks.periods import Period
from tests.conftest import cjm, write_config, write_small_inputs

Q3 = Period.parse("2025Q3")
REVIEW = '{"review_id": "R%d", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "fine kettle"}\n'
SURVEYS = "response_id,answered_at,question,score,comment\n"
SURVEY_ROW = "S%d,2025-07-01T10:00:00Z,q_purchase_csat,4,fine\n"
SALES = "event_id,customer_id,occurred_at,event_type,channel,amount\n"


def _refused(tmp_path: Path, name: str, data: bytes | str, filename: str, **source) -> DataError:
    """Write ``data`` as the only file of source ``name``, stream the source as a refresh does,
    and return the error it raised (asserting it is a DataError with exit code 1 that names the
    file and left no output behind)."""
    path = tmp_path / "data" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    fmt = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}.get(filename.split(".")[1], "csv")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", sources={name: {"location": str(path), "format": fmt, **source}}))
    out = tmp_path / "out.parquet"
    with pytest.raises(DataError) as info:
        stream_source(name, config, Q3, out, batch_rows=1000)
    error = info.value
    assert error.exit_code == 1 and str(path) in str(error), str(error)
    assert not out.exists()
    assert "block size" not in str(error) and "unexpected" not in str(error)
    return error


# --------------------------------------------------------------------------- JSON Lines


@pytest.mark.parametrize("line", [1, 250])
def test_a_json_value_nested_200000_deep_is_refused_before_pyarrow_parses_it(tmp_path: Path, line: int):
    # 200,000 levels crash pyarrow's parser (SIGSEGV) and exhaust Python's json (RecursionError).
    hostile = '{"review_id": "R-deep", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "x", "a": ' + "[" * 200_000 + "]" * 200_000 + "}\n"
    lines = [REVIEW % i for i in range(line - 1)] + [hostile] + [REVIEW % (1000 + i) for i in range(5)]
    error = _refused(tmp_path, "reviews", "".join(lines), "reviews.jsonl")
    assert re.search(rf"reviews\.jsonl, line {line}: a JSON value is nested more than 100 levels deep", str(error)), str(error)
    assert "sources.reviews.limits.max_json_depth" in str(error)


def test_a_deep_value_in_a_process_exits_1_with_the_line_not_a_crash(tmp_path: Path):
    """The refusal as a user sees it: the cjm command in a new process (a crash would be signal 11)."""
    data = write_small_inputs(tmp_path / "data")
    reviews = data / "2025Q3" / "reviews.jsonl"
    lines = reviews.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3][:-1] + ', "a": ' + "[" * 200_000 + "]" * 200_000 + "}"
    reviews.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = cjm("validate", "--period", "2025Q3", config=write_config(tmp_path / "cfg", data), timeout=120)
    assert done.returncode == 1, done.stderr
    # validate lists what could not be read among the failed checks: the message, then the file and line.
    assert "a JSON value is nested more than 100 levels deep" in done.stderr and "reviews.jsonl, line 4" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr


def test_brackets_inside_strings_do_not_count_and_the_depth_limit_is_a_setting(tmp_path: Path):
    assert json_depth(b'{"a": "[[[[{{{{", "b": [[1]], "c": "\\"]"}') == 3
    brackets = '{"review_id": "R1", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "' + "[{" * 300 + '"}\n'
    path = tmp_path / "data" / "reviews.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(brackets + REVIEW % 2, encoding="utf-8")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", sources={"reviews": {"location": str(path), "format": "jsonl"}}))
    assert read_source("reviews", config, Q3).frame["text"][0] == "[{" * 300
    # Ten levels is legal JSON; with the limit set to 5 it is refused, naming the setting.
    nested = '{"review_id": "R3", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "x", "meta": ' + "[" * 10 + "]" * 10 + "}\n"
    error = _refused(tmp_path / "low", "reviews", REVIEW % 1 + nested, "reviews.jsonl", limits={"max_json_depth": 5})
    assert "line 2: a JSON value is nested more than 5 levels deep" in str(error)
    with pytest.raises(ConfigError, match=r"limits.*max_json_depth"):
        load_config(write_config(tmp_path / "cfg2", tmp_path / "data", sources={"reviews": {"limits": {"max_json_depth": 50_000}}}))


def test_a_json_line_longer_than_the_limit_is_refused_before_it_is_held_whole(tmp_path: Path):
    long = '{"review_id": "R1", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "' + "x" * 3_000_000 + '"}\n'
    # Among the first 200 lines (read one by one to name the fields), and past them (read in pieces).
    error = _refused(tmp_path, "reviews", REVIEW % 0 + REVIEW % 2 + long, "reviews.jsonl", limits={"max_line_bytes": "2MB"})
    assert "reviews.jsonl, line 3: the line is longer than the 1.9MiB sources.reviews.limits.max_line_bytes" in str(error), str(error)
    error = _refused(tmp_path / "later", "reviews", "".join(REVIEW % i for i in range(204)) + long, "reviews.jsonl", limits={"max_line_bytes": "2MB"})
    assert re.search(r"reviews\.jsonl, line 205: the line is 2\.9MiB long, longer than the 1\.9MiB sources\.reviews\.limits\.max_line_bytes", str(error)), str(error)
    # A file without a line end at all (not JSON Lines): refused once a line passes the limit.
    error = _refused(tmp_path / "one", "reviews", REVIEW % 0 + "{" + " " * 40_000_000, "reviews.jsonl")
    assert "line 2: the line is longer than the 8.0MiB sources.reviews.limits.max_line_bytes" in str(error), str(error)


def test_a_json_line_over_a_mebibyte_within_the_limits_reads(tmp_path: Path):
    # pyarrow parses 1 MiB blocks and refuses a longer line ("straddling object"): the block grows.
    text = "y" * 1_500_000
    path = tmp_path / "data" / "reviews.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(REVIEW % 0 + json.dumps({"review_id": "R1", "published_at": "2025-07-02T00:00:00Z", "rating": 2, "text": text}) + "\n",
                    encoding="utf-8")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data",
                                      sources={"reviews": {"location": str(path), "format": "jsonl", "limits": {"max_field_bytes": "2MB"}}}))
    assert read_source("reviews", config, Q3).frame["text"].tolist() == ["fine kettle", text]


@pytest.mark.parametrize(("value", "kind"), [('{"a": 1}', "an object"), ("[4, 5]", "a list")])
@pytest.mark.parametrize("mixed", [False, True], ids=["typed", "mixed-types"])
def test_a_nested_value_where_a_single_value_belongs_names_line_and_column(tmp_path: Path, value: str, kind: str, mixed: bool):
    # mixed: another line has a text in that field, so pyarrow refuses the piece and the text fallback reads it.
    other = '{"review_id": "R9", "published_at": "2025-07-01T10:00:00Z", "rating": "four", "text": "x"}\n' if mixed else REVIEW % 9
    hostile = '{"review_id": "R1", "published_at": "2025-07-01T10:00:00Z", "rating": %s, "text": "x"}\n' % value
    error = _refused(tmp_path, "reviews", REVIEW % 0 + "\n" + other + hostile, "reviews.jsonl")
    assert re.search(rf"reviews\.jsonl, line 4: column 'rating' holds {kind}", str(error)), str(error)


def test_a_key_twice_in_one_json_object_is_refused(tmp_path: Path):
    twice = '{"review_id": "R1", "review_id": "R2", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "x"}\n'
    for where, lines in (("line 2", [REVIEW % 0, twice]), ("line 205", [REVIEW % i for i in range(204)] + [twice])):
        error = _refused(tmp_path / where.replace(" ", ""), "reviews", "".join(lines), "reviews.jsonl")
        assert f"reviews.jsonl, {where}: key 'review_id' appears twice in one object" in str(error), str(error)


def test_json_lines_errors_never_suggest_csv_encoding(tmp_path: Path):
    latin1 = '{"review_id": "R\xe9", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "caf\xe9"}\n'.encode("latin-1")
    mixed = '{"review_id": "R-mixed", "published_at": "2025-07-01T10:00:00Z", "rating": "four", "text": "x"}\n'
    # On a line that names the fields (the first 200), on one read later by pyarrow, and in a piece
    # pyarrow refuses for mixed types (read by pandas, which would replace the bytes).
    for line, lines in ((3, [REVIEW % 0, REVIEW % 1]), (230, [REVIEW % i for i in range(229)]), (231, [REVIEW % i for i in range(229)] + [mixed])):
        error = _refused(tmp_path / str(line), "reviews", "".join(lines).encode() + latin1, "reviews.jsonl")
        assert f"reviews.jsonl, line {line}" in str(error) and "utf-8" in str(error).lower() and "csv.encoding" not in str(error), str(error)
    error = _refused(tmp_path / "broken", "reviews", REVIEW % 0 + REVIEW % 1 + '{"review_id": "R2", "rat\n', "reviews.jsonl")
    assert "line 3: not valid JSON" in str(error) and "csv.encoding" not in str(error)


# --------------------------------------------------------------------------- sizes


def test_a_10mb_csv_field_names_row_column_and_the_setting_not_the_block_size(tmp_path: Path):
    data = SURVEYS + SURVEY_ROW % 1 + "S2,2025-07-01T10:00:00Z,q_purchase_csat,4," + "slow delivery " * 750_000 + "\n"
    error = _refused(tmp_path, "surveys", data, "surveys.csv")
    assert re.search(r"surveys\.csv, data row 2: column 'comment' holds a value of 10\.0MiB, longer than the 1\.0MiB "
                     r"sources\.surveys\.limits\.max_field_bytes allows", str(error)), str(error)
    # Raised, the same file reads.
    path = tmp_path / "data" / "surveys.csv"
    config = load_config(write_config(tmp_path / "cfg2", tmp_path / "data", sources={"surveys": {"location": str(path), "format": "csv",
                                                                                                "limits": {"max_field_bytes": "12MB"}}}))
    assert len(read_source("surveys", config, Q3).frame["comment"][1]) == 10_500_000


def test_a_csv_row_longer_than_a_block_says_which_setting_sets_the_block(tmp_path: Path):
    # An unclosed quote: the rest of the file is one field, longer than any block.
    data = SURVEYS + SURVEY_ROW % 1 + 'S2,2025-07-01T10:00:00Z,q_purchase_csat,4,"never closed ' + "z" * 40_000_000 + "\n"
    error = _refused(tmp_path, "surveys", data, "surveys.csv")
    assert re.search(r"surveys\.csv, after data row \d+: a row is longer than the 16\.0MiB a block holds: .*sources\.surveys\.limits\.max_line_bytes", str(error)), str(error)


def test_a_file_larger_than_max_file_bytes_is_refused_before_it_is_parsed(tmp_path: Path):
    error = _refused(tmp_path, "surveys", SURVEYS + "".join(SURVEY_ROW % i for i in range(2000)), "surveys.csv", limits={"max_file_bytes": "10KB"})
    assert re.search(r"surveys\.csv: the file is [\d.]+KiB, larger than the 9\.8KiB sources\.surveys\.limits\.max_file_bytes allows", str(error)), str(error)


# --------------------------------------------------------------------------- columns


def test_a_duplicated_csv_header_is_refused_with_both_positions(tmp_path: Path):
    error = _refused(tmp_path, "surveys", "response_id,answered_at,question,score,score\nS1,2025-07-01T10:00:00Z,q_purchase_csat,4,fine\n", "surveys.csv")
    assert "surveys.csv: columns 4 and 5 are both named 'score'" in str(error)


def test_a_duplicated_column_the_source_does_not_read_is_harmless(tmp_path: Path):
    # Trailing empty header cells (a spreadsheet's CSV export) name two columns '' that nothing reads.
    path = tmp_path / "data" / "surveys.csv"
    path.parent.mkdir(parents=True)
    path.write_text("response_id,answered_at,question,score,note,note,,\nS1,2025-07-01T10:00:00Z,q_purchase_csat,4,a,b,,\n", encoding="utf-8")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", sources={"surveys": {"location": str(path), "format": "csv"}}))
    assert read_source("surveys", config, Q3).frame["response_id"].tolist() == ["S1"]


def test_a_parquet_file_with_two_columns_of_one_name_is_refused_without_an_encoding_hint(tmp_path: Path):
    table = pa.table([pa.array(["E1"]), pa.array(["C1"]), pa.array(["2025-07-01T10:00:00Z"]), pa.array(["order_placed"]), pa.array(["web"]),
                      pa.array(["app"])], names=["event_id", "customer_id", "occurred_at", "event_type", "channel", "channel"])
    path = tmp_path / "part-00000.parquet"
    pq.write_table(table, path)
    error = _refused(tmp_path, "sales", path.read_bytes(), "sales.parquet")
    assert "sales.parquet: columns 5 and 6 are both named 'channel'" in str(error)
    assert "UTF-8" not in str(error) and "encoding" not in str(error)


def test_a_list_typed_parquet_column_names_the_column_and_row(tmp_path: Path):
    table = pa.table({"event_id": ["E1", "E2"], "customer_id": ["C1", "C1"], "occurred_at": ["2025-07-01T10:00:00Z"] * 2,
                      "event_type": [["order_placed"], ["order_paid"]], "channel": ["web", "web"]})
    path = tmp_path / "sales.parquet"
    pq.write_table(table, path)
    error = _refused(tmp_path, "sales", path.read_bytes(), "sales.parquet")
    assert re.search(r"sales\.parquet, data row 1: column 'event_type' holds a list \(list<.*>\) where a single value", str(error)), str(error)


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(("name", "data", "where"), [
    ("surveys", SURVEYS + SURVEY_ROW % 1 + "S2\x00evil,2025-07-01T10:00:00Z,q_purchase_csat,4,x\n", "surveys.csv, data row 2: column 'response_id'"),
    ("sales", SALES + "E1,C1,2025-07-01T10:00:00Z,order_placed,web,3\nE2,C1\x1b[2J,2025-07-01T10:00:00Z,order_placed,web,3\n",
     "sales.csv, data row 2: column 'customer_id'"),
    ("reviews", REVIEW % 1 + '{"review_id": "R\\t2", "published_at": "2025-07-01T10:00:00Z", "rating": 4, "text": "x"}\n',
     "reviews.jsonl, line 2: column 'review_id'"),
])
def test_a_control_character_in_an_id_is_refused(tmp_path: Path, name: str, data: str, where: str):
    error = _refused(tmp_path, name, data, where.split(",")[0])
    assert where + " is an id and holds a control character" in str(error), str(error)
    assert "\x1b" not in str(error) and "\x00" not in str(error)  # shown escaped, never sent to a terminal


def test_control_characters_in_free_text_are_kept(tmp_path: Path):
    path = tmp_path / "data" / "surveys.csv"
    path.parent.mkdir(parents=True)
    path.write_text(SURVEYS + "S1,2025-07-01T10:00:00Z,q_purchase_csat,4,\"tab\there\"\n", encoding="utf-8")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", sources={"surveys": {"location": str(path), "format": "csv"}}))
    assert read_source("surveys", config, Q3).frame["comment"][0] == "tab\there"


# --------------------------------------------------------------------------- broken files


def test_a_corrupted_zstd_page_names_the_file(tmp_path: Path):
    table = pa.table({"event_id": [f"E{i}" for i in range(5000)], "customer_id": ["C1"] * 5000, "occurred_at": ["2025-07-01T10:00:00Z"] * 5000,
                      "event_type": ["order_placed"] * 5000, "channel": ["web", "app"] * 2500})
    path = tmp_path / "sales.parquet"
    pq.write_table(table, path, compression="zstd")
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    raw = bytearray(path.read_bytes())
    raw[column.data_page_offset + 30: column.data_page_offset + 94] = b"\xff" * 64
    error = _refused(tmp_path, "sales", bytes(raw), "sales.parquet")
    assert "cannot be parsed as parquet (a damaged or truncated file?)" in str(error)


def test_csv_with_cr_only_line_endings_reads_like_lf(tmp_path: Path):
    path = tmp_path / "data" / "surveys.csv"
    path.parent.mkdir(parents=True)
    path.write_text((SURVEYS + SURVEY_ROW % 1 + SURVEY_ROW % 2).replace("\n", "\r"), encoding="utf-8", newline="")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", sources={"surveys": {"location": str(path), "format": "csv"}}))
    frame = read_source("surveys", config, Q3).frame
    assert frame["response_id"].tolist() == ["S1", "S2"] and frame["comment"].tolist() == ["fine", "fine"]


@pytest.mark.parametrize(("filename", "data", "says"), [
    ("surveys.csv", b"", "file is empty"),
    ("surveys.csv", b"  \n\n", "file is empty"),
    ("surveys.csv", SURVEYS.encode(), "file has a header but no data rows"),
    ("reviews.jsonl", b"", "file is empty"),
    ("sales.parquet", b"", "file is empty"),
    ("surveys.csv", gzip.compress((SURVEYS + SURVEY_ROW % 1 * 100).encode(), mtime=0)[:60], "the file is gzip-compressed; csv sources are read uncompressed"),
    ("reviews.jsonl", gzip.compress((REVIEW % 1).encode(), mtime=0), "the file is gzip-compressed; jsonl sources are read uncompressed"),
])
def test_empty_and_compressed_files_say_what_they_are(tmp_path: Path, filename: str, data: bytes, says: str):
    name = {"surveys.csv": "surveys", "reviews.jsonl": "reviews", "sales.parquet": "sales"}[filename]
    error = _refused(tmp_path, name, data, filename)
    assert says in str(error), str(error)
