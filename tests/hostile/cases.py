"""The corpus: hostile or careless inputs a refresh of 2025Q2 must refuse (issue 15).

Every case edits a fresh copy of the project (2025Q1 already stored and published), then runs
``cjm refresh --period 2025Q2`` (or the command in ``args``). A case passes when the run exits
with ``code``, its output matches every pattern in ``expect`` (the file, row or key at fault),
contains none of ``absent`` (a secret, a misleading hint), shows no traceback and no
``unexpected error``, and nothing but the run's workspace changed: no new version in the store,
the site's bytes the same. ``issue`` quotes the finding of issue 15 a case reproduces; cases
without one already held when the corpus was written and guard against regressions.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from tests.hostile.edits import (PERIOD, Project, append_text, edit_csv, edit_jsonl, edit_parquet, edit_yaml, nested_json,
                                 read_csv_rows, replace_column, set_csv_cell, write_csv_rows)

REFRESH = ("refresh", "--period", PERIOD)
# Recognisable fake secrets: found anywhere in the output, they leaked.
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYHOSTILE1"
PASSWORD = "hunter2-HOSTILE-password-9f3c"
SECRET_ENV = {"CJM_HOSTILE_SECRET": SECRET}


@dataclass(frozen=True)
class Case:
    id: str
    edit: Callable[[Project], None]
    code: int | tuple[int, ...]      # the exit code (or the codes) allowed
    expect: tuple[str, ...]          # regular expressions the output must match (case-insensitive)
    absent: tuple[str, ...] = ()     # plain strings the output must not contain
    args: tuple[str, ...] = REFRESH
    env: dict[str, str] = field(default_factory=dict)
    isolate: bool = False            # in a new process: it can crash or hang the interpreter
    timeout: float = 90
    issue: str = ""

    @property
    def codes(self) -> tuple[int, ...]:
        return self.code if isinstance(self.code, tuple) else (self.code,)


CASES: list[Case] = []


def case(id: str, code: int | tuple[int, ...], expect: tuple[str, ...] | str, **options) -> Callable:
    """Register the decorated edit as a case of the corpus."""
    def register(edit: Callable[[Project], None]) -> Callable[[Project], None]:
        CASES.append(Case(id, edit, code, (expect,) if isinstance(expect, str) else expect, **options))
        return edit
    return register


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _main(change: Callable[[dict], None]) -> Callable[[Project], None]:
    return lambda p: edit_yaml(p.main, change)


def _personas(change: Callable[[dict], None]) -> Callable[[Project], None]:
    return lambda p: edit_yaml(p.cfg / "personas.yaml", change)


def _nothing(p: Project) -> None:
    pass


def pad_reviews(p: Project, lines: int = 200) -> list[str]:
    """The reviews' lines, padded with valid, distinct reviews to ``lines``: what follows is past
    the part of the file a reader looks at first (the first 200 lines)."""
    found = p.reviews.read_text(encoding="utf-8").splitlines()
    return found + [json.dumps({**json.loads(found[i % len(found)]), "review_id": f"R-pad-{i}"}, ensure_ascii=False)
                    for i in range(lines - len(found))]


# ---------------------------------------------------------------- issue 15: what failed

@case("reviews-nested-json-after-line-200", 1, ("reviews\\.jsonl", r"\b201\b"), isolate=True,
      issue="a 200,000-deep JSON value after line 200 kills the process (segmentation fault, exit 139, no output)")
def _(p: Project) -> None:
    lines = pad_reviews(p)
    hostile = json.dumps({**json.loads(lines[0]), "review_id": "R-nested"})[:-1] + ', "a": ' + nested_json(200_000) + "}"
    p.reviews.write_text("\n".join([*lines, hostile]) + "\n", encoding="utf-8")


@case("reviews-nested-json-line-1", 1, ("reviews\\.jsonl", r"line 1\b"), isolate=True,
      issue="a deeply nested JSON value on line 1 gives `unexpected error: RecursionError`")
def _(p: Project) -> None:
    lines = p.reviews.read_text(encoding="utf-8").splitlines()
    hostile = lines[0][:-1] + ', "a": ' + nested_json(200_000) + "}"
    p.reviews.write_text("\n".join([hostile, *lines[1:]]) + "\n", encoding="utf-8")


@case("config-secret-in-number", 2, "diff.*alpha", absent=(SECRET, SECRET[:8]), env=SECRET_ENV,
      issue="a value expanded from ${ENV} is echoed in the error: `diff.alpha: input should be a valid number (got 'wJalr...')`")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["diff"].update(alpha="${CJM_HOSTILE_SECRET}"))


@case("config-secret-in-persona-id", 2, ("personas\\.yaml", "id"), absent=(SECRET, SECRET[:8]), env=SECRET_ENV,
      issue="a value expanded from ${ENV} is echoed in the error: `personas[0].id: 'wJalr...' must be a slug`")
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][0].update(id="${CJM_HOSTILE_SECRET}"))


@case("config-secret-in-enum", 2, ("project", "language"), absent=(PASSWORD, PASSWORD[:8]), env={"CJM_HOSTILE_PASSWORD": PASSWORD},
      issue="a value expanded from ${ENV} is echoed in the error: `'hunter2...' is not one of en, ru`")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["project"].update(language="${CJM_HOSTILE_PASSWORD}"))


@case("persona-id-300-characters", 2, ("personas\\.yaml", "id"),
      issue="a 300-character persona id is accepted; three personas are stored, then `OSError: File name too long`")
def _(p: Project) -> None:
    # Last in the file, so the personas before it are stored before the long name fails.
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"].append({**d["personas"][-1], "id": "p" * 300}))


@case("storage-versions-empty", 2, "storage.*versions",
      issue="`versions: ${UNSET:-}` puts the store in the configuration folder, exits 0, republishes the index without 2025Q1")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["storage"].update(versions="${CJM_HOSTILE_UNSET:-}"))


@case("config-yaml-alias-bomb", 2, "cjm\\.yaml", isolate=True, timeout=40,
      issue="a YAML alias bomb (9 levels x 9 aliases) runs past 150 s and 1.5 GB in the ${VAR} expansion")
def _(p: Project) -> None:
    lines = ["x-defaults:", '  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    append_text(p.main, "\n" + "\n".join(lines) + "\n")


@case("surveys-duplicated-header", 1, ("surveys\\.csv", "score"),
      issue="a CSV header `score,score` refreshes with exit 0: the first column wins, the comments are dropped")
def _(p: Project) -> None:
    edit_csv(p.surveys, lambda rows: rows[0].__setitem__(rows[0].index("comment"), "score"))


@case("sales-parquet-corrupt-zstd-page", 1, "part-00000\\.parquet",
      issue="a corrupted Parquet page (ZSTD) gives `unexpected error:` without the file")
def _(p: Project) -> None:
    import pyarrow.parquet as pq

    column = pq.ParquetFile(p.sales).metadata.row_group(0).column(1)
    assert column.compression == "ZSTD", column.compression
    raw = bytearray(p.sales.read_bytes())
    # The end of the customer ids' pages, zeroed: the file still opens, its values decode to
    # nonsense (with the sample data's seed, timestamps out of any date's range).
    start = column.data_page_offset + column.total_compressed_size - 20
    raw[start:start + 12] = bytes(12)
    p.sales.write_bytes(bytes(raw))


@case("sales-timestamp-out-of-range", 1, ("sales", "occurred_at"),
      issue="(found building the corpus) a timestamp past year 9999 gives `unexpected error: OverflowError: date value out of range`")
def _(p: Project) -> None:
    def change(t: pa.Table) -> pa.Table:
        micros = t["occurred_at"].cast(pa.int64()).to_pylist()
        micros[3] = 2**62
        return replace_column(t, "occurred_at", pa.array(micros, pa.int64()).cast(t.schema.field("occurred_at").type))
    edit_parquet(p.sales, change)


@case("sales-columns-swapped", 1, ("sales", "amount|event_id"),
      issue="(found by tests/test_fuzz_inputs.py) `event_id` and `amount` swapped in a Parquet file: `unexpected error: TypeError: cannot safely cast non-equivalent object to int64`")
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: t.rename_columns([{"event_id": "amount", "amount": "event_id"}.get(n, n) for n in t.column_names]))


@case("sales-event-type-list", 1, ("sales", "event_type"), issue="a list-typed `event_type` gives `unexpected error:`")
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: replace_column(t, "event_type", pa.array([[v] for v in t["event_type"].to_pylist()])))


@case("config-yaml-nested-50000-deep", 2, "cjm\\.yaml", isolate=True,
      issue="a YAML value nested 50,000 deep exits 1 (`unexpected error`) instead of 2")
def _(p: Project) -> None:
    append_text(p.main, "\nx-deep: " + nested_json(50_000) + "\n")


# 1 or 2: a location that exists but cannot hold the site is the configuration's fault or the
# storage's, as the storage layer reports it.
@case("storage-site-is-a-file", (1, 2), ("storage.site", "site-file"), issue="`storage.site` being a file fails with `unexpected error` after the versions were stored")
def _(p: Project) -> None:
    (p.root / "site-file").write_text("not a folder\n", encoding="utf-8")
    edit_yaml(p.main, lambda d: d["storage"].update(site="../site-file"))


@case("sales-parquet-duplicate-column", 1, ("part-00000\\.parquet", "channel"), absent=("UTF-8", "csv.encoding"),
      issue="a Parquet file with duplicate column names is blamed on UTF-8 and `csv.encoding`")
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: t.append_column("channel", t["channel"]))


# The issue saw "increase block size" for a 10 MB field; here the gate's length check names the row.
@case("surveys-10mb-field", 1, "surveys\\.csv", absent=("block size",))
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 10, "comment", "slow delivery " * 750_000)


@case("reviews-broken-json-line", 1, ("reviews\\.jsonl", r"\b7\b"), absent=("csv.encoding",))
def _(p: Project) -> None:
    lines = p.reviews.read_text(encoding="utf-8").splitlines()
    lines[6] = lines[6][: len(lines[6]) // 2]
    p.reviews.write_text("\n".join(lines) + "\n", encoding="utf-8")


@case("reviews-invalid-utf8-after-line-200", 1, ("reviews\\.jsonl", r"\b201\b"), absent=("csv.encoding",),
      issue="JSON Lines errors suggest `csv.encoding` (found building the corpus: past line 200 the line is accepted, garbled)")
def _(p: Project) -> None:
    lines = pad_reviews(p)
    # Cyrillic text in cp1251: bytes that are not UTF-8 (ASCII would stay valid UTF-8).
    bad = json.dumps({**json.loads(lines[5]), "review_id": "R-cp1251", "text": "Доставка задержалась на неделю"}, ensure_ascii=False)
    p.reviews.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + bad.encode("cp1251") + b"\n")


@case("reviews-invalid-utf8-line-2", 1, ("reviews\\.jsonl", r"line 2\b"), absent=("csv.encoding",))
def _(p: Project) -> None:
    p.reviews.write_bytes(p.reviews.read_text(encoding="utf-8").encode("cp1251", errors="replace"))


@case("surveys-nul-in-id", 1, ("surveys", "response_id"), issue="NUL bytes inside ids are silently accepted")
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 3, "response_id", "S2025Q2-\x00evil")


@case("customers-control-character-in-id", 1, ("customers", "customer_id"), issue="control characters in ids are silently accepted")
def _(p: Project) -> None:
    # The same customer under an id with an escape sequence: a different customer to every reader.
    edit_csv(p.customers, lambda rows: rows.append([rows[1][0] + "\x1b[2J", *rows[1][1:]]))


@case("sales-amount-infinite", 1, ("sales", "amount"), issue="`amount = inf` passes the gate's `>= 0`")
def _(p: Project) -> None:
    def change(t: pa.Table) -> pa.Table:
        amounts = t["amount"].to_pylist()
        first = next(i for i, v in enumerate(amounts) if v is not None)
        amounts[first] = float("inf")
        return replace_column(t, "amount", pa.array(amounts, pa.float64()))
    edit_parquet(p.sales, change)


@case("config-duplicate-key", 2, ("cjm\\.yaml", "storage"), issue="a duplicated YAML key is accepted (last wins, storage moved)")
def _(p: Project) -> None:
    append_text(p.main, "\nstorage:\n  work: ../moved/work\n  versions: ../moved/store\n  site: ../moved/site\n")


@case("period-year-0000", 2, "0000Q1", args=("refresh", "--period", "0000Q1"), issue="period `0000Q1` is accepted and written as `0Q1`")
def _(p: Project) -> None:
    pass


@case("versions-list-persona-traversal", 2, "persona", args=("versions", "list", "--persona", "../../../../../.."),
      issue="`versions list --persona ../../../../../..` walks the file system outside the store")
def _(p: Project) -> None:
    pass


@case("smtp-password-variable-unset", 2, "CJM_HOSTILE_SMTP_PASSWORD", env={"CJM_HOSTILE_SMTP_USER": "reports"},
      issue="an SMTP password variable that is unset gives a raw `KeyError` traceback")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d.update(notify={"channels": ["smtp"], "smtp": {
        "host": "127.0.0.1", "port": _free_port(), "sender": "cjm@example.com", "recipients": ["cx@example.com"],
        "username_env": "CJM_HOSTILE_SMTP_USER", "password_env": "CJM_HOSTILE_SMTP_PASSWORD"}}))


@case("smtp-auth-without-tls", 2, "starttls", absent=(PASSWORD,),
      env={"CJM_HOSTILE_SMTP_USER": "reports", "CJM_HOSTILE_SMTP_PASSWORD": PASSWORD},
      issue="`starttls: false` sends AUTH in clear text without a warning")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d.update(notify={"channels": ["smtp"], "smtp": {
        "host": "127.0.0.1", "port": _free_port(), "sender": "cjm@example.com", "recipients": ["cx@example.com"], "starttls": False,
        "username_env": "CJM_HOSTILE_SMTP_USER", "password_env": "CJM_HOSTILE_SMTP_PASSWORD"}}))


@case("s3-store-unreachable", (1, 2), r"127\.0\.0\.1:\d+", absent=(SECRET,),
      env={"AWS_ACCESS_KEY_ID": "AKIA" + "HOSTILEKEYID0001", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_MAX_ATTEMPTS": "2"},
      issue="an S3 outage past the retry budget is reported as `unexpected error: EndpointConnectionError`")
def _(p: Project) -> None:
    # Nothing listens on the port: every attempt is refused, the retry budget runs out at once.
    def change(doc: dict) -> None:
        doc["storage"]["versions"] = "s3://hostile-outage/store"
        doc["s3"]["endpoint_url"] = f"http://127.0.0.1:{_free_port()}"
    edit_yaml(p.main, change)


# ---------------------------------------------------------------- periods and other arguments

for _period in ("2025Q5", "2025-Q2", "../2025Q2", "$(touch pwned)2025Q2", "", "2025Q2\x00", "3000Q1"):
    case(f"period-{_period.encode('unicode_escape').decode() or 'empty'}", 2, "--period",
         args=("refresh", "--period", _period))(_nothing)


@case("build-persona-traversal", 2, "persona", args=("build", "--period", PERIOD, "--persona", "../../etc", "--out", "maps"))
def _(p: Project) -> None:
    pass


@case("versions-show-persona-traversal", 2, "persona", args=("versions", "show", "../../../etc", PERIOD))
def _(p: Project) -> None:
    pass


@case("diff-version-traversal", 2, "version|\\.\\./", args=("diff", "all", "2025Q1", "../../2025Q1"))
def _(p: Project) -> None:
    pass


# ---------------------------------------------------------------- the main configuration file

@case("config-file-missing", 2, ("cjm\\.yaml", "not found"))
def _(p: Project) -> None:
    p.main.unlink()


@case("config-file-is-a-folder", 2, "cjm\\.yaml")
def _(p: Project) -> None:
    p.main.unlink()
    p.main.mkdir()


@case("config-file-empty", 2, "cjm\\.yaml")
def _(p: Project) -> None:
    p.main.write_text("", encoding="utf-8")


@case("config-file-a-list", 2, "cjm\\.yaml")
def _(p: Project) -> None:
    p.main.write_text("- project\n- sources\n", encoding="utf-8")


@case("config-file-binary", 2, "cjm\\.yaml")
def _(p: Project) -> None:
    p.main.write_bytes(bytes(range(256)) * 4)


@case("config-yaml-syntax-error", 2, ("cjm\\.yaml", "line"))
def _(p: Project) -> None:
    append_text(p.main, "\ndiff: {alpha: [0.05\n")


@case("config-unknown-top-level-key", 2, ("cjm\\.yaml", "stroage"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d.update(stroage=d["storage"]))


@case("config-unknown-source-key", 2, ("cjm\\.yaml", "locaton"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["sources"]["surveys"].update(locaton="elsewhere.csv"))


@case("config-unknown-source", 2, ("cjm\\.yaml", "complaints"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["sources"].update(complaints=d["sources"]["reviews"]))


@case("config-alpha-not-a-number", 2, ("cjm\\.yaml", "alpha"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["diff"].update(alpha="abc"))


@case("config-alpha-out-of-range", 2, ("cjm\\.yaml", "alpha"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["diff"].update(alpha=1.5))


@case("config-language-unknown", 2, ("cjm\\.yaml", "language"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["project"].update(language="fr"))


@case("config-timezone-unknown", 2, ("cjm\\.yaml", "timezone"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["project"].update(timezone="Mars/Olympus_Mons"))


@case("config-keep-runs-negative", 2, ("cjm\\.yaml", "keep_runs"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["storage"].update(keep_runs=-1))


@case("config-scale-reversed", 2, ("cjm\\.yaml", "csat"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["metrics"]["scales"].update(csat=[5, 1]))


@case("config-source-format-unknown", 2, ("cjm\\.yaml", "format"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["sources"]["surveys"].update(format="xml"))


@case("config-no-journey-source", 2, ("cjm\\.yaml", "sources"))
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d.update(sources={"customers": d["sources"]["customers"]}))


@case("config-unset-variable", 2, "CJM_HOSTILE_NOT_SET")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["sources"]["surveys"].update(location="${CJM_HOSTILE_NOT_SET}/{period}/surveys.csv"))


@case("config-named-file-missing", 2, "no-such-stages\\.yaml")
def _(p: Project) -> None:
    edit_yaml(p.main, lambda d: d["files"].update(stages="no-such-stages.yaml"))


# ---------------------------------------------------------------- personas, stages, expectations

@case("persona-rule-unknown-operator", 2, ("personas\\.yaml", "exec"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][0]["rule"]["any"][0].update(op="exec"))


@case("persona-rule-code-as-field", (1, 2), "__import__")
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][0]["rule"]["any"][0].update(field="__import__('os').system('id')"))


@case("persona-id-not-a-slug", 2, ("personas\\.yaml", "Big Spenders"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][0].update(id="Big Spenders"))


@case("persona-id-path-traversal", 2, ("personas\\.yaml", "id"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][0].update(id="../../escaped"))


@case("persona-id-duplicate", 2, ("personas\\.yaml", "families"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"].append(dict(d["personas"][2])))


@case("persona-rule-between-one-value", 2, ("personas\\.yaml", "between"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d["personas"][2]["rule"]["all"][1].update(value=[30]))


@case("persona-membership-unknown", 2, ("personas\\.yaml", "membership"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "personas.yaml", lambda d: d.update(membership="sometimes"))


@case("stages-duplicate-id", 2, ("stages\\.yaml", "purchase"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "stages.yaml", lambda d: d["stages"].append({**d["stages"][2]}))


@case("stages-empty", 2, "stages\\.yaml")
def _(p: Project) -> None:
    edit_yaml(p.cfg / "stages.yaml", lambda d: d.update(stages=[]))


@case("expectations-unknown-check", 2, ("expectations\\.yaml", "not_nul"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "expectations.yaml", lambda d: d["surveys"]["mostly"].update(not_nul=1.0))


@case("expectations-unknown-expectation", 2, ("expectations\\.yaml", "expect_world_peace"))
def _(p: Project) -> None:
    edit_yaml(p.cfg / "expectations.yaml", lambda d: d["surveys"]["extra"].append({"expectation": "expect_world_peace", "kwargs": {}}))


# ---------------------------------------------------------------- surveys (CSV)

@case("surveys-missing-column", 1, ("surveys", "score"))
def _(p: Project) -> None:
    edit_csv(p.surveys, lambda rows: [r[:4] + r[5:] for r in rows])


@case("surveys-empty-file", 1, "surveys")
def _(p: Project) -> None:
    p.surveys.write_bytes(b"")


@case("surveys-header-only", 1, "surveys")
def _(p: Project) -> None:
    edit_csv(p.surveys, lambda rows: rows[:1])


@case("surveys-too-few-rows", 1, ("surveys", "rows"))
def _(p: Project) -> None:
    edit_csv(p.surveys, lambda rows: rows[:6])


@case("surveys-score-not-a-number", 1, ("surveys", "score"))
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 4, "score", "abc")


@case("surveys-score-out-of-scale", 1, ("surveys", "score"))
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 4, "score", "99")


@case("surveys-unknown-question", 1, ("surveys", "q_world_peace|question|stage"))
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 4, "question", "q_world_peace")


@case("surveys-answer-outside-period", 1, ("surveys", "answered_at"))
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 4, "answered_at", "2019-01-01T00:00:00Z")


@case("surveys-answer-time-garbage", 1, ("surveys", "answered_at"))
def _(p: Project) -> None:
    set_csv_cell(p.surveys, 4, "answered_at", "yesterday at tea time")


@case("surveys-duplicate-id", 1, ("surveys", "response_id"))
def _(p: Project) -> None:
    edit_csv(p.surveys, lambda rows: rows.append(list(rows[5])))


@case("surveys-ragged-row", 1, "surveys\\.csv")
def _(p: Project) -> None:
    edit_csv(p.surveys, lambda rows: rows[7].extend(["surplus", "fields"]))


@case("surveys-cp1251-encoding", 1, "surveys\\.csv")
def _(p: Project) -> None:
    rows = read_csv_rows(p.surveys)
    rows[3][rows[0].index("comment")] = "Курьер опоздал"
    write_csv_rows(p.surveys, rows)
    p.surveys.write_bytes(p.surveys.read_text(encoding="utf-8").encode("cp1251"))


@case("surveys-utf16", 1, "surveys\\.csv")
def _(p: Project) -> None:
    p.surveys.write_bytes(p.surveys.read_text(encoding="utf-8").encode("utf-16"))


@case("surveys-binary-garbage", 1, "surveys\\.csv")
def _(p: Project) -> None:
    p.surveys.write_bytes(bytes(range(256)) * 64)


@case("surveys-file-missing", 1, "surveys\\.csv")
def _(p: Project) -> None:
    p.surveys.unlink()


@case("surveys-file-is-a-folder", 1, "surveys\\.csv")
def _(p: Project) -> None:
    p.surveys.unlink()
    p.surveys.mkdir()


# ---------------------------------------------------------------- reviews (JSON Lines)

@case("reviews-line-is-an-array", 1, "reviews\\.jsonl")
def _(p: Project) -> None:
    lines = p.reviews.read_text(encoding="utf-8").splitlines()
    lines[3] = json.dumps(list(json.loads(lines[3]).values()), ensure_ascii=False)
    p.reviews.write_text("\n".join(lines) + "\n", encoding="utf-8")


@case("reviews-rating-out-of-scale", 1, ("reviews", "rating"))
def _(p: Project) -> None:
    edit_jsonl(p.reviews, lambda recs: recs[2].update(rating=9))


@case("reviews-rating-a-word", 1, ("reviews", "rating"))
def _(p: Project) -> None:
    edit_jsonl(p.reviews, lambda recs: recs[2].update(rating="five"))


@case("reviews-empty-file", 1, "reviews")
def _(p: Project) -> None:
    p.reviews.write_bytes(b"")


@case("reviews-no-text-field", 1, ("reviews", "text"))
def _(p: Project) -> None:
    def change(records: list[dict]) -> None:
        for r in records:
            del r["text"]
    edit_jsonl(p.reviews, change)


@case("reviews-null-id", 1, ("reviews", "review_id"))
def _(p: Project) -> None:
    edit_jsonl(p.reviews, lambda recs: recs[4].update(review_id=None))


# ---------------------------------------------------------------- sales (Parquet) and customers (CSV)

@case("sales-not-parquet", 1, "part-00000\\.parquet")
def _(p: Project) -> None:
    p.sales.write_text("event_id,customer_id\nE1,C1\n", encoding="utf-8")


@case("sales-truncated-parquet", 1, "part-00000\\.parquet")
def _(p: Project) -> None:
    p.sales.write_bytes(p.sales.read_bytes()[: p.sales.stat().st_size // 2])


@case("sales-no-files", 1, "sales")
def _(p: Project) -> None:
    p.sales.unlink()


@case("sales-missing-event-type", 1, ("sales", "event_type"))
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: t.drop_columns(["event_type"]))


@case("sales-unknown-event-type", 1, ("sales", "event_type"))
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: replace_column(t, "event_type", ["teleported"] + t["event_type"].to_pylist()[1:]))


@case("sales-event-type-a-number", 1, ("sales", "event_type"))
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: replace_column(t, "event_type", pa.array(range(t.num_rows), pa.int64())))


@case("sales-negative-amount", 1, ("sales", "amount"))
def _(p: Project) -> None:
    def change(t: pa.Table) -> pa.Table:
        amounts = t["amount"].to_pylist()
        first = next(i for i, v in enumerate(amounts) if v is not None)
        amounts[first] = -50.0
        return replace_column(t, "amount", pa.array(amounts, pa.float64()))
    edit_parquet(p.sales, change)


@case("sales-time-a-string", 1, ("sales", "occurred_at"))
def _(p: Project) -> None:
    edit_parquet(p.sales, lambda t: replace_column(t, "occurred_at", ["soon"] * t.num_rows))


@case("customers-missing-id-column", 1, ("customers", "customer_id"))
def _(p: Project) -> None:
    edit_csv(p.customers, lambda rows: [r[1:] for r in rows])


@case("customers-duplicate-id", 1, ("customers", "customer_id"))
def _(p: Project) -> None:
    edit_csv(p.customers, lambda rows: rows.append(list(rows[1])))
