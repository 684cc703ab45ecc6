"""Mutated input files never crash the reader and the gate (issue 15).

hypothesis mutates one of a valid sample project's files (truncation, byte flips, inserted
bytes, swapped columns, changed types, deep nesting, a duplicated header, removed rows) and runs
``cjm validate`` (every source read, then the gate) on it. Whatever the mutation, the command
answers within a time limit with exit code 0, 1 or 2, and neither a traceback nor an
``unexpected error``. The examples are derandomized, so a failure reproduces; hypothesis prints
the mutation that failed and the output is in the assertion message.

Commands run in one long-lived worker process (tests/hostile/worker.py): a segmentation fault
ends the worker, not pytest, and a hang is the worker not answering in time (it is then killed
and a new one started).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from tests.hostile.edits import PERIOD, Project, nested_json
from tests.hostile.run import Outcome, make_project
from tests.hostile.worker import Worker

LIMIT = 60            # seconds one validation may take (a few on the sample data, even on a busy machine)
TARGETS = ("surveys", "reviews", "sales", "customers")
ODD_TEXT = ["", "abc", "-1", "1e308", "-inf", "NaN", "9" * 400, "\x00", '"', "null", "2025-13-45T25:61:00Z", "\u202e\u0000\x1b[2J",
            "Курьер", "=HYPERLINK(\"x\")", "1,5", " 3 "]
ODD_JSON = [[], {}, 1.5, -1, "x", None, True, 10**30, [1, [2, [3]]], {"a": {"b": None}}, "\x00", float("1e308")]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_project(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory):
    w = Worker(tmp_path_factory.mktemp("fuzz-worker"))
    yield w
    w.stop()


def target_file(project: Project, target: str) -> Path:
    return {"surveys": project.surveys, "reviews": project.reviews, "sales": project.sales, "customers": project.customers}[target]


mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("swap_columns"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("retype"), st.integers(0, 20), st.integers(0, 99), st.floats(0, 1)),
    st.tuples(st.just("nest"), st.integers(0, 20), st.sampled_from([2, 64, 1_000, 5_000, 50_000, 200_000]), st.floats(0, 1)),
    st.tuples(st.just("duplicate_header"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("remove_rows"), st.floats(0, 1), st.integers(1, 100_000)),
)


def mutate(original: bytes, kind: str, fmt: str, mutation: tuple) -> bytes:
    """``original`` (a file of format ``fmt``) changed as ``mutation`` says."""
    name, *args = mutation
    if name == "truncate":
        return original[: int(len(original) * args[0])]
    if name == "flip":
        raw = bytearray(original)
        for where, xor in args[0]:
            i = min(int(len(raw) * where), len(raw) - 1)
            raw[i] ^= xor
        return bytes(raw)
    if name == "insert":
        i = int(len(original) * args[0])
        return original[:i] + args[1] + original[i:]
    if fmt == "parquet":
        return _mutate_parquet(original, name, args)
    if fmt == "jsonl":
        return _mutate_jsonl(original, name, args)
    return _mutate_csv(original, name, args)


def _pick(items: list, index: int):
    return items[index % len(items)]


def _mutate_csv(original: bytes, name: str, args: list) -> bytes:
    import csv

    rows = list(csv.reader(io.StringIO(original.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    width = len(header)
    if name == "swap_columns":
        i, j = args[0] % width, args[1] % width
        header[i], header[j] = header[j], header[i]
    elif name == "retype":
        column, value, share = args[0] % width, _pick(ODD_TEXT, args[1]), args[2]
        for row in body[: max(1, int(len(body) * share))]:
            row[column] = value
    elif name == "nest":
        column, depth, share = args[0] % width, args[1], args[2]
        body[int((len(body) - 1) * share)][column] = nested_json(depth)
    elif name == "duplicate_header":
        header[args[1] % width] = header[args[0] % width]
    elif name == "remove_rows":
        start = int(len(body) * args[0])
        del body[start: start + args[1]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    return out.getvalue().encode("utf-8")


def _mutate_jsonl(original: bytes, name: str, args: list) -> bytes:
    lines = original.decode("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    keys = list(records[0])
    if name == "swap_columns":
        a, b = _pick(keys, args[0]), _pick(keys, args[1])
        for r in records:
            r[a], r[b] = r.get(b), r.get(a)
    elif name == "retype":
        key, value, share = _pick(keys, args[0]), _pick(ODD_JSON, args[1]), args[2]
        for r in records[: max(1, int(len(records) * share))]:
            r[key] = value
    elif name == "remove_rows":
        start = int(len(records) * args[0])
        del records[start: start + args[1]]
    text = [json.dumps(r, ensure_ascii=False) for r in records]
    if name == "nest":
        # Built as text: json.dumps itself cannot nest this deep.
        key, depth, share = _pick(keys, args[0]), args[1], args[2]
        i = int((len(text) - 1) * share)
        others = {k: v for k, v in records[i].items() if k != key}
        text[i] = json.dumps(others, ensure_ascii=False)[:-1] + f', "{key}": ' + nested_json(depth) + "}"
    elif name == "duplicate_header":
        # A key twice in one object: JSON allows it, the last wins in most parsers.
        key, other = _pick(keys, args[0]), _pick(keys, args[1])
        text = [t[:-1] + f', "{key}": ' + json.dumps(r.get(other), ensure_ascii=False) + "}" for t, r in zip(text, records)]
    return ("\n".join(text) + "\n").encode("utf-8") if text else b""


def _mutate_parquet(original: bytes, name: str, args: list) -> bytes:
    table = pq.read_table(pa.BufferReader(original))
    names = table.column_names
    if name == "swap_columns":
        i, j = args[0] % len(names), args[1] % len(names)
        renamed = list(names)
        renamed[i], renamed[j] = names[j], names[i]
        table = table.rename_columns(renamed)
    elif name == "retype":
        i = args[0] % len(names)
        replacement = [pa.array(range(table.num_rows), pa.int64()),
                       pa.array([_pick(ODD_TEXT, args[1] + k) for k in range(table.num_rows)]),
                       pa.array([[k] for k in range(table.num_rows)]),
                       pa.array([k % 2 == 0 for k in range(table.num_rows)]),
                       pa.nulls(table.num_rows, pa.null())][args[1] % 5]
        table = table.set_column(i, names[i], replacement)
    elif name == "nest":
        i = args[0] % len(names)
        column = table.column(i).combine_chunks()
        # Parquet nesting is bounded by the writer; a few levels of lists is what a file holds.
        for _ in range(min(args[1], 40)):
            column = pa.ListArray.from_arrays(pa.array(range(len(column) + 1), pa.int32()), column)
        table = table.set_column(i, names[i], column)
    elif name == "duplicate_header":
        table = table.append_column(names[args[0] % len(names)], table.column(args[1] % len(names)))
    elif name == "remove_rows":
        start = int(table.num_rows * args[0])
        table = pa.concat_tables([table.slice(0, start), table.slice(start + args[1])])
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


# No shrinking: it would rerun validations for minutes, and a mutation is short enough to read as found.
@settings(max_examples=40, derandomize=True, deadline=None, database=None, print_blob=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), mutation=mutations)
def test_mutated_inputs_never_crash_the_reader_or_the_gate(project: Project, worker: Worker, target: str, mutation: tuple):
    path = target_file(project, target)
    original = path.read_bytes()
    fmt = {"surveys": "csv", "customers": "csv", "reviews": "jsonl", "sales": "parquet"}[target]
    try:
        path.write_bytes(mutate(original, target, fmt, mutation))
        note(f"{target} ({path.name}) mutated by {str(mutation)[:300]}")
        outcome = worker.run(project.root, ["--config", str(project.main), "validate", "--period", PERIOD], LIMIT)
    finally:
        path.write_bytes(original)
    assert isinstance(outcome, Outcome), f"{outcome[0]} ({outcome[1]}) on {target} mutated by {str(mutation)[:300]}"
    assert outcome.code in (0, 1, 2), outcome.tail()
    assert "Traceback" not in outcome.text and "unexpected error" not in outcome.text, outcome.tail()
