"""The gate computed by the engine: DuckDB and Spark give the same failures (checks, counts, sample
values and rows) on corrupted inputs; a source streamed to Parquet gives the same result as in
memory; the extra expectations translated to SQL give what Great Expectations gives."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cjm_tasks.config import load_config
from cjm_tasks.engine import open_engine
from cjm_tasks.engine.inputs import frame_table, register_sources
from cjm_tasks.ingest.canonical import SourceData
from cjm_tasks.ingest.checks import measure
from cjm_tasks.ingest.extras import load_extras, run_with_gx, translate
from cjm_tasks.ingest.gate import GateResult, validate_sources
from cjm_tasks.ingest.sources import read_sources
from cjm_tasks.periods import Period
from tests.conftest import write_config, write_small_inputs
from tests.test_validate import (_rewrite_reviews, _rewrite_sales, corrupt_duplicate_id, corrupt_null_ids, corrupt_out_of_range,
                                 corrupt_outside_period, corrupt_rate_over_one, corrupt_too_few_rows, corrupt_unknown_event_type,
                                 corrupt_unknown_stage_question, corrupt_wrong_type)

Q3 = Period.parse("2025Q3")


@pytest.fixture(scope="module")
def spark():
    """One Spark session (local[2]) for the module: it takes seconds to start."""
    engine = open_engine(kind="spark")
    yield engine
    engine.close()


def corrupt_negative_amount(d: Path):
    _rewrite_sales(d, lambda f: f.__setitem__("amount", f["amount"].where(f.index != 8, -12.5)))  # row 8 places an order


def corrupt_non_finite_amount(d: Path, values: tuple[float, float] = (float("inf"), float("-inf"))):
    # Written by pyarrow, not pandas: pandas would store NaN as a missing value.
    import pyarrow as pa

    path = d / "2025Q3" / "sales" / "part-00001.parquet"
    table = pq.read_table(path)
    amounts = table["amount"].to_pylist()
    amounts[8], amounts[9] = values  # inf passes `amount >= 0`
    pq.write_table(table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amounts, pa.float64())), path)


def corrupt_rating_off_scale(d: Path):
    _rewrite_reviews(d, lambda rows: rows[3].__setitem__("rating", 11))  # the scale is 1-10 (RATING_SCALE)


RATING_SCALE = {"reviews": {"scales": {"rating": [1, 10]}}}
TRANSLATED = {"reviews": {"extra": [{"expectation": "expect_column_values_to_match_regex", "kwargs": {"column": "review_id", "regex": "^R[0-9]$"}}]}}
BY_GX = {"reviews": {"extra": [{"expectation": "expect_column_mean_to_be_between", "kwargs": {"column": "rating", "min_value": 3.5}}]}}

# (case, corruption, sources override, expectations override, the failure it must give: source, kind, column, unexpected rows)
CASES = [
    ("null_id", corrupt_null_ids, None, None, ("sales", "not_null", "event_id", 1)),
    ("duplicated_ids", corrupt_duplicate_id, None, None, ("reviews", "unique", "review_id", 2)),
    ("score_off_scale", corrupt_out_of_range, None, None, ("surveys", "range", "score", 1)),
    ("unknown_event_type", corrupt_unknown_event_type, None, None, ("sales", "in_set", "event_type", 1)),
    ("unknown_question", corrupt_unknown_stage_question, None, None, ("surveys", "in_set", "question", 1)),
    ("outside_quarter", corrupt_outside_period, None, None, ("sales", "in_period", "occurred_at", 1)),
    ("negative_amount", corrupt_negative_amount, None, None, ("sales", "range", "amount", 1)),
    ("non_finite_amount", corrupt_non_finite_amount, None, None, ("sales", "types", "amount", 2)),
    ("not_a_number", corrupt_wrong_type, None, None, ("surveys", "types", "score", 1)),
    ("too_few_rows", corrupt_too_few_rows, None, None, ("customers", "row_count", None, None)),
    ("rate_over_one", corrupt_rate_over_one, None, None, ("sales", "rates", "event_type", None)),
    ("rating_off_scale", corrupt_rating_off_scale, RATING_SCALE, None, ("reviews", "range", "rating", 1)),
    ("extra_translated", lambda d: None, None, TRANSLATED, ("reviews", "extra", "review_id", 30)),
    ("extra_by_gx", lambda d: None, None, BY_GX, ("reviews", "extra", "rating", None)),
]


def _read(tmp_path: Path, corrupt, sources: dict | None = None, expectations: dict | None = None):
    data_dir = write_small_inputs(tmp_path / "data")
    corrupt(data_dir)
    config = load_config(write_config(tmp_path / "cfg", data_dir, sources=sources, expectations=expectations))
    return config, read_sources(config, Q3)


def _gate(engine, data: dict[str, SourceData], config) -> GateResult:
    register_sources(engine, data)
    return validate_sources(data, config, Q3, engine)


def _checks(result: GateResult) -> list[dict]:
    """Every check as the report saves it, without the time it was made."""
    return [asdict(c) for s in result.sources.values() for c in s.checks]


@pytest.mark.parametrize(("case", "corrupt", "sources", "expectations", "failure"), CASES, ids=[c[0] for c in CASES])
def test_duckdb_and_spark_give_the_same_failures(tmp_path: Path, spark, case, corrupt, sources, expectations, failure):
    config, data = _read(tmp_path, corrupt, sources, expectations)
    with open_engine(config, "duckdb") as duck:
        on_duckdb = _gate(duck, data, config)
    on_spark = _gate(spark, data, config)
    source, kind, column, unexpected = failure
    failed = [c for c in on_duckdb.failures if (c.source, c.kind, c.column) == (source, kind, column)]
    assert failed, on_duckdb.summary()
    assert unexpected is None or failed[0].unexpected_count == unexpected, failed[0].line()
    assert all(c.sample_rows for c in on_duckdb.failures if c.unexpected_count), on_duckdb.summary()
    assert _checks(on_spark) == _checks(on_duckdb)


def test_nan_read_from_parquet_fails_the_finite_check_on_both_engines(tmp_path: Path, spark):
    """In memory NaN is pandas' missing value; streamed (as a refresh reads) it stays NaN, which
    sorts above every number and so would pass `amount >= 0`: both engines flag it."""
    from cjm_tasks.ingest.sources import stream_source

    data_dir = write_small_inputs(tmp_path / "data")
    corrupt_non_finite_amount(data_dir, (float("nan"), 12.5))
    config = load_config(write_config(tmp_path / "cfg", data_dir))
    data = {"sales": stream_source("sales", config, Q3, tmp_path / "sales.parquet")}
    with open_engine(config, "duckdb") as duck:
        on_duckdb = _gate(duck, data, config)
    on_spark = _gate(spark, data, config)
    [failed] = on_duckdb.failures
    assert (failed.kind, failed.column, failed.unexpected_count, failed.sample_values) == ("types", "amount", 1, ["nan"]), failed.line()
    assert failed.sample_rows[0].endswith("part-00001.parquet, data row 9")
    assert _checks(on_spark) == _checks(on_duckdb)


def test_a_streamed_source_gives_the_gate_result_of_the_same_source_in_memory(tmp_path: Path):
    def corrupt(d: Path):
        for each in (corrupt_null_ids, corrupt_duplicate_id, corrupt_outside_period, corrupt_wrong_type, corrupt_unknown_stage_question):
            each(d)

    config, data = _read(tmp_path, corrupt)
    streamed = {}
    for name, source in data.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(frame_table(source.frame), path)
        streamed[name] = SourceData(name=name, frame=None, files=source.files, rows_read=source.rows_read,
                                    rows_outside_period=source.rows_outside_period, issues=source.issues, records=source.records,
                                    parquet=str(path), rows=source.row_count)
    with open_engine(config, "duckdb") as engine:
        in_memory = _gate(engine, data, config)
    with open_engine(config, "duckdb") as engine:
        from_parquet = _gate(engine, streamed, config)
    assert len(in_memory.failures) >= 5
    assert _checks(from_parquet) == _checks(in_memory)
    assert {n: s.rows for n, s in from_parquet.sources.items()} == {n: s.rows for n, s in in_memory.sources.items()}


# Each translated extra on data with nulls (customer_id, order_id, amount) and mostly below 1, so
# that GX's denominators (all rows for not-null, non-null values for the others) show.
EXTRAS = {
    "reviews": [
        ("expect_column_values_to_not_be_null", {"column": "customer_id", "mostly": 0.8}),
        ("expect_column_values_to_be_unique", {"column": "text"}),
        ("expect_column_values_to_be_in_set", {"column": "customer_id", "value_set": ["C0001", "C0002"], "mostly": 0.05}),
        ("expect_column_values_to_not_be_in_set", {"column": "language", "value_set": ["ru"], "mostly": 0.4}),
        ("expect_column_values_to_be_between", {"column": "rating", "min_value": 2, "max_value": 4, "strict_max": True}),
        ("expect_column_values_to_be_between", {"column": "published_at", "min_value": "2025-07-03T00:00:00+00:00"}),
        ("expect_column_values_to_match_regex", {"column": "review_id", "regex": "^R[0-9]$"}),
        ("expect_column_values_to_not_match_regex", {"column": "text", "regex": "kettle"}),
        ("expect_column_value_lengths_to_be_between", {"column": "text", "min_value": 3, "max_value": 24}),
        ("expect_table_row_count_to_be_between", {"min_value": 50}),
        ("expect_table_row_count_to_equal", {"value": 40}),
        ("expect_column_to_exist", {"column": "text", "column_index": 4}),
    ],
    "sales": [
        ("expect_column_values_to_be_between", {"column": "amount", "min_value": 50, "mostly": 0.5}),
        ("expect_column_values_to_not_be_null", {"column": "order_id"}),
        ("expect_column_values_to_be_in_set", {"column": "order_id", "value_set": []}),
    ],
}


def test_translated_extras_give_what_great_expectations_gives(tmp_path: Path):
    expectations = {name: {"extra": [{"expectation": e, "kwargs": kw} for e, kw in extras]} for name, extras in EXTRAS.items()}
    config, data = _read(tmp_path, lambda d: None, expectations=expectations)
    loaded = load_extras(config, list(data))
    compared = []
    with open_engine(config, "duckdb") as engine:
        register_sources(engine, data)
        for name, extras in loaded.items():
            columns = engine.columns(name)
            rules = [translate(extra, columns) for extra in extras]
            assert all(rules), [e.expectation for e, r in zip(extras, rules) if r is None]
            ours, _ = measure(engine, name, rules, columns, data[name].locate)
            theirs = run_with_gx(engine, name, extras, columns, data[name].locate)
            for mine, gx in zip(ours, theirs, strict=True):
                assert asdict(mine) == asdict(gx), mine.expectation
            compared += ours
    assert len(compared) == sum(len(e) for e in EXTRAS.values())
    # Failures, and passes thanks to mostly: both sides of GX's thresholds were compared.
    assert not all(c.success for c in compared) and any(c.success and c.unexpected_count for c in compared)


def test_plain_kwargs_are_checked_without_great_expectations_as_it_would(tmp_path: Path):
    from cjm_tasks.errors import ConfigError

    plain = {"reviews": {"extra": [{"expectation": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "text", "max_value": 9}}]}}
    config, _ = _read(tmp_path / "plain", lambda d: None, expectations=plain)
    [extra] = load_extras(config, ["reviews"])["reviews"]
    assert extra.gx is None and extra.kwargs == {"column": "text", "max_value": 9}
    # Not a plain form (both bounds missing, a float length, an unknown kwarg): GX says why.
    for kwargs, says in [({"column": "text"}, "cannot both be None"), ({"column": "text", "max_value": 2.5, "foo": 1}, "extra fields not permitted")]:
        bad = {"reviews": {"extra": [{"expectation": "expect_column_value_lengths_to_be_between", "kwargs": kwargs}]}}
        config, _ = _read(tmp_path / says.split()[0], lambda d: None, expectations=bad)
        with pytest.raises(ConfigError, match=rf"(?s)reviews.extra\[0\].kwargs: not accepted by expect_column_value_lengths_to_be_between: .*{says}"):
            load_extras(config, ["reviews"])


def test_the_saved_report_of_a_failed_gate_is_json_with_iso_timestamps(tmp_path: Path):
    config, data = _read(tmp_path, corrupt_outside_period)
    with open_engine(config, "duckdb") as engine:
        result = _gate(engine, data, config)
    [check] = [c for c in result.failures if c.kind == "in_period"]
    assert check.sample_values == ["2025-10-01T00:00:00+00:00"] and check.sample_rows[0].endswith("part-00001.parquet, data row 4")
    assert json.loads(json.dumps(result.to_dict()))["failed"] == 1



def test_a_rule_on_a_missing_column_is_reported_not_checked_and_the_others_still_run():
    import pyarrow as pa

    from cjm_tasks.ingest.checks import Rule

    with open_engine(kind="duckdb") as engine:
        engine.register_arrow("t", pa.table({"a": [1.5, None, 3.0], "__row": pa.array([4, 7, 9], type=pa.int64())}))
        rules = [Rule("not_null", "a", "expected no empty values", "expect_column_values_to_not_be_null", "nulls"),
                 Rule("not_null", "b", "expected no empty values", "expect_column_values_to_not_be_null", "nulls")]
        present, missing = measure(engine, "t", rules, engine.columns("t"), lambda row: f"t, data row {row + 1}")[0]
    assert (present.unexpected_count, present.element_count, present.sample_rows) == (1, 3, ["t, data row 8"])
    assert not missing.success and missing.error == "column 'b' is not in t (columns: a)"
    assert "could not be checked: column 'b' is not in t" in missing.line()


def test_a_gate_with_only_plain_common_extras_does_not_import_great_expectations(tmp_path: Path):
    import subprocess
    import sys

    from tests.conftest import REPO

    plain = {"surveys": {"extra": [{"expectation": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "comment", "max_value": 4000}}]}}
    config_path = write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"), expectations=plain)
    script = tmp_path / "gate.py"  # a file, not `python -c`: imported from -c, PySpark's connect module exits the process
    script.write_text(
        "import sys\n"
        "from cjm_tasks.config import load_config\nfrom cjm_tasks.periods import Period\nfrom cjm_tasks.run.pipeline import read_and_validate\n"
        f"outcome = read_and_validate(load_config({str(config_path)!r}), Period.parse('2025Q3'))\n"
        "print(outcome.result.check_count, 'great_expectations' in sys.modules)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    checks, imported = done.stdout.split()
    assert int(checks) > 30 and imported == "False"
