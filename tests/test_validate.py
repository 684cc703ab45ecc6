"""The validation gate: passes on clean data, fails precisely on corrupted inputs, stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm_tasks.config import load_config
from cjm_tasks.errors import ValidationFailed
from cjm_tasks.periods import Period
from cjm_tasks.run.pipeline import read_and_validate
from tests.conftest import write_config, write_small_inputs

Q3 = Period.parse("2025Q3")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_small_inputs(tmp_path / "data")


def _gate(tmp_path: Path, data_dir: Path, **kw):
    config = load_config(write_config(tmp_path / "cfg", data_dir, **kw))
    return config, read_and_validate(config, Q3, raise_on_failure=False)


def test_gate_passes_on_clean_data_and_saves_json_and_html(tmp_path: Path, data_dir: Path):
    config, outcome = _gate(tmp_path, data_dir)
    assert outcome.result.success, outcome.result.summary()
    kinds = {c.kind for s in outcome.result.sources.values() for c in s.checks}
    assert {"row_count", "not_null", "unique", "types", "range", "in_set", "in_period"} <= kinds
    saved = json.loads(Path(outcome.report["json"]).read_text())
    assert saved["success"] is True and saved["period"] == "2025Q3"
    assert saved["sources"]["sales"]["rows"] == 200
    html = Path(outcome.report["html"]).read_text()
    assert "All checks passed" in html and "sales" in html
    assert outcome.report["json"] == str(Path(config.storage.work) / "validation/2025Q3/validation.json")


def _rewrite_csv(path: Path, edit) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(path, index=False)


def _rewrite_sales(data_dir: Path, edit) -> None:
    path = data_dir / "2025Q3" / "sales" / "part-00001.parquet"
    frame = pq.read_table(path).to_pandas()
    edit(frame)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _rewrite_reviews(data_dir: Path, edit) -> None:
    path = data_dir / "2025Q3" / "reviews.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    edit(rows)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


SURVEYS = "2025Q3/surveys.csv"


def corrupt_missing_column(d: Path):
    _rewrite_csv(d / SURVEYS, lambda f: f.pop("score"))


def corrupt_wrong_type(d: Path):
    _rewrite_csv(d / SURVEYS, lambda f: f.__setitem__("score", f["score"].where(f.index != 6, "four")))


def corrupt_out_of_range(d: Path):
    _rewrite_csv(d / SURVEYS, lambda f: f.__setitem__("score", f["score"].where(f.index != 1, "7")))  # row 1 is a csat answer


def corrupt_duplicate_id(d: Path):
    _rewrite_reviews(d, lambda rows: rows[5].__setitem__("review_id", rows[4]["review_id"]))


def corrupt_empty_file(d: Path):
    (d / SURVEYS).write_bytes(b"")


def corrupt_wrong_delimiter(d: Path):
    path = d / SURVEYS
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")


def corrupt_undecodable(d: Path):
    path = d / SURVEYS
    path.write_bytes(path.read_bytes().replace(b"arrived late", b"arriv\xe9 late", 1))


def corrupt_outside_period(d: Path):
    _rewrite_sales(d, lambda f: f.__setitem__("occurred_at", f["occurred_at"].where(f.index != 3, pd.Timestamp("2025-10-01", tz="UTC"))))


def corrupt_unknown_stage_question(d: Path):
    _rewrite_csv(d / SURVEYS, lambda f: f.__setitem__("question", f["question"].where(f.index != 2, "q_delivery_mood")))


def corrupt_unknown_event_type(d: Path):
    _rewrite_sales(d, lambda f: f.__setitem__("event_type", f["event_type"].where(f.index != 0, "teleported")))


def corrupt_null_ids(d: Path):
    _rewrite_sales(d, lambda f: f.__setitem__("event_id", f["event_id"].where(f.index != 9, None)))


def corrupt_bad_timestamp(d: Path):
    _rewrite_csv(d / SURVEYS, lambda f: f.__setitem__("answered_at", f["answered_at"].where(f.index != 4, "yesterday")))


def corrupt_too_few_rows(d: Path):
    path = d / "customers.csv"
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:4]), encoding="utf-8")


def corrupt_rating(d: Path):
    _rewrite_reviews(d, lambda rows: rows[7].__setitem__("rating", 0))


def corrupt_rate_over_one(d: Path):
    # 11 returns of 10 registered products: returns of last quarter's orders counted in this one.
    def edit(f):
        visits = f.index[f["event_type"] == "site_visit"][:11]
        views = f.index[f["event_type"] == "product_view"][:10]
        f.loc[visits, "event_type"] = "return_requested"
        f.loc[views, "event_type"] = "product_registered"
    _rewrite_sales(d, edit)


CASES = [
    (corrupt_missing_column, "surveys", "read", ["missing required column(s) 'score'", "surveys.csv"]),
    (corrupt_wrong_type, "surveys", "types", ["surveys.score: expected a number", "1 row(s) fail", "'four'", "surveys.csv, data row 7"]),
    (corrupt_out_of_range, "surveys", "range", ["surveys.score: expected csat scores between 1 and 5", "1 row(s) fail", "7", "surveys.csv, data row 2"]),
    (corrupt_duplicate_id, "reviews", "unique", ["reviews.review_id: expected unique ids", "2 row(s) fail", "'R4'", "reviews.jsonl, data row 5"]),
    (corrupt_empty_file, "surveys", "read", ["surveys: file is empty"]),
    (corrupt_wrong_delimiter, "surveys", "read", ["is the delimiter ';' rather than ','"]),
    (corrupt_undecodable, "surveys", "read", ["cannot be decoded as utf-8", "surveys.csv, data row 1"]),
    (corrupt_outside_period, "sales", "in_period", ["sales.occurred_at: expected timestamps in 2025Q3", "1 row(s) fail", "2025-10-01", "part-00001.parquet, data row 4"]),
    (corrupt_unknown_stage_question, "surveys", "in_set", ["surveys.question: expected a question listed under a stage", "'q_delivery_mood'", "data row 3"]),
    (corrupt_unknown_event_type, "sales", "in_set", ["sales.event_type: expected an event type", "'teleported'", "part-00001.parquet, data row 1"]),
    (corrupt_null_ids, "sales", "not_null", ["sales.event_id: expected no empty values", "1 row(s) fail", "part-00001.parquet, data row 10"]),
    (corrupt_bad_timestamp, "surveys", "types", ["surveys.answered_at: expected a timestamp", "'yesterday'", "data row 5"]),
    (corrupt_too_few_rows, "customers", "row_count", ["customers: expected at least 5 rows", "observed 3"]),
    (corrupt_rating, "reviews", "range", ["reviews.rating: expected ratings between 1 and 5", "0", "reviews.jsonl, data row 8"]),
    (corrupt_rate_over_one, "sales", "rates", ["rate return_rate (experience)", "found 11 > 10", "part-00000.parquet"]),
]


@pytest.mark.parametrize(("corrupt", "source", "kind", "phrases"), CASES, ids=[c[0].__name__ for c in CASES])
def test_gate_fails_precisely_on_corrupted_input(tmp_path: Path, data_dir: Path, corrupt, source: str, kind: str, phrases: list[str]):
    corrupt(data_dir)
    config, outcome = _gate(tmp_path, data_dir)
    result = outcome.result
    assert not result.success
    failed = [c for c in result.failures if c.source == source and c.kind == kind]
    assert failed, result.summary()
    summary = result.summary()
    for phrase in phrases:
        assert phrase in summary, f"{phrase!r} not in:\n{summary}"
    # The other sources were still checked, so one report lists every problem.
    assert set(result.sources) == {"surveys", "reviews", "sales", "customers"}
    saved = json.loads(Path(outcome.report["json"]).read_text())
    assert saved["success"] is False and saved["failed"] == len(result.failures)
    with pytest.raises(ValidationFailed) as info:
        read_and_validate(config, Q3)
    assert phrases[0] in str(info.value) and "validation.html" in str(info.value)


def test_mostly_lets_a_few_bad_rows_through(tmp_path: Path, data_dir: Path):
    corrupt_unknown_event_type(data_dir)
    _, strict = _gate(tmp_path / "strict", data_dir)
    assert not strict.result.success
    _, lenient = _gate(tmp_path / "lenient", data_dir, expectations={"sales": {"mostly": {"in_set": 0.99}}})
    assert lenient.result.success, lenient.result.summary()


def test_extra_expectation_from_config(tmp_path: Path, data_dir: Path):
    extra = [{"expectation": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "text", "max_value": 24}}]
    _, outcome = _gate(tmp_path, data_dir, expectations={"reviews": {"extra": extra}})
    failed = [c for c in outcome.result.failures if c.kind == "extra"]
    assert failed and failed[0].column == "text" and failed[0].unexpected_count == 20  # the 25-character Russian texts


def test_unknown_extra_expectation_is_a_config_error(tmp_path: Path, data_dir: Path):
    from cjm_tasks.errors import ConfigError

    extra = [{"expectation": "expect_column_to_be_lovely", "kwargs": {"column": "text"}}]
    with pytest.raises(ConfigError, match=r"reviews.extra\[0\].expectation: 'expect_column_to_be_lovely' is not a Great Expectations"):
        _gate(tmp_path, data_dir, expectations={"reviews": {"extra": extra}})


def test_untrusted_text_is_escaped_in_the_html_report(tmp_path: Path, data_dir: Path):
    _rewrite_csv(data_dir / SURVEYS, lambda f: f.__setitem__("question", f["question"].where(f.index != 2, "<script>alert(1)</script>")))
    _, outcome = _gate(tmp_path, data_dir)
    html = Path(outcome.report["html"]).read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_timestamp_past_year_9999_is_a_failed_check_not_a_crash(tmp_path: Path, data_dir: Path):
    # A damaged Parquet page can decode into such a value; Python's datetime cannot hold it.
    path = data_dir / "2025Q3" / "sales" / "part-00000.parquet"
    table = pq.read_table(path)
    column = table.schema.get_field_index("occurred_at")
    micros = table["occurred_at"].cast(pa.int64()).to_pylist()
    micros[3] = 2**62
    pq.write_table(table.set_column(column, "occurred_at", pa.array(micros, pa.int64()).cast(table.schema.field(column).type)), path)
    _, outcome = _gate(tmp_path, data_dir)
    [failed] = outcome.result.failures
    assert (failed.kind, failed.column, failed.unexpected_count) == ("in_period", "occurred_at", 1), failed.line()
    assert failed.sample_values[0].startswith("17036-") and failed.sample_rows == [f"{path}, data row 4"]


def test_ids_written_as_fractions_are_kept_as_written(tmp_path: Path, data_dir: Path):
    # The columns event_id and amount swapped in a Parquet file: the ids are 12.5, 30.0, ...; the amounts are words.
    for path in (data_dir / "2025Q3" / "sales").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.rename_columns([{"event_id": "amount", "amount": "event_id"}.get(n, n) for n in table.column_names]), path)
    _, outcome = _gate(tmp_path, data_dir)
    failed = {(c.source, c.kind, c.column) for c in outcome.result.failures}
    assert ("sales", "types", "amount") in failed, outcome.result.summary()
