"""An unchanged quarter is recognised before anything is read: inputs hashed, configuration and
code compared with the lineage of every persona's latest stored revision. What changes the
answer (a byte, a persona rule, a new persona, other code), what never is unchanged (a SQL
source, an input moved, missing or that cannot be listed), `--force`, and the Airflow short-circuit."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import yaml

from tests.conftest import cjm, write_config, write_small_inputs
from tests.test_dags import airflow_home, run_dag  # noqa: F401 (a fixture)

Q3 = "2025Q3"


def _listing(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below ``roots`` with its modification time and size."""
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for root in roots if root.exists() for p in sorted(root.rglob("*"))}


@pytest.fixture
def refreshed(tmp_path: Path):
    """Small inputs of 2025Q3, refreshed once: (main config file, data folder, loaded config)."""
    from cjm_tasks.config import load_config
    from cjm_tasks.periods import Period
    from cjm_tasks.run.steps import refresh

    data = write_small_inputs(tmp_path / "data")
    main = write_config(tmp_path / "cfg", data)
    config = load_config(main)
    first = refresh(config, Period.parse(Q3))
    assert not first["unchanged"] and all(r.created for r in first["versions"])
    return main, data, config


def _refresh(main: Path, **kwargs):
    from cjm_tasks.config import load_config
    from cjm_tasks.periods import Period
    from cjm_tasks.run.steps import refresh

    return refresh(load_config(main), Period.parse(Q3), **kwargs)


def _edit_personas(main: Path, edit) -> None:
    path = main.parent / "personas.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc["personas"])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_a_second_refresh_says_unchanged_and_writes_nothing_then_force_runs(tmp_path: Path):
    main = write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"))
    outputs = [tmp_path / "cfg" / name for name in ("store", "site", "work")]
    first = cjm("refresh", "--period", Q3, config=main)
    assert first.returncode == 0 and "2025Q3-r1: new" in first.stdout, first.stderr[-2000:]
    before = _listing(*outputs)
    assert any("/store/maps/all/2025Q3/r1/" in p for p in before) and any("/site/" in p for p in before)

    again = cjm("refresh", "--period", Q3, config=main)
    assert again.returncode == 0, again.stderr[-2000:]
    assert ("2025Q3 unchanged: inputs, configuration and code match r1 of every persona (5); "
            "nothing built, stored or published") in again.stdout
    assert "site:" not in again.stdout
    assert _listing(*outputs) == before  # no workspace, version, validation report or page

    forced = cjm("refresh", "--period", Q3, "--force", config=main)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert forced.stdout.count("2025Q3-r1: unchanged, kept") == 5 and "site:" in forced.stdout
    after = _listing(*outputs)
    store = str(tmp_path / "cfg" / "store")
    assert {p: v for p, v in after.items() if p.startswith(store)} == {p: v for p, v in before.items() if p.startswith(store)}
    runs = tmp_path / "cfg" / "work" / "runs"
    assert len(list(runs.iterdir())) == 2  # the forced run read and built in a workspace of its own


def test_a_changed_byte_in_one_input_rebuilds(refreshed):
    main, data, _ = refreshed
    surveys = data / Q3 / "surveys.csv"
    raw = surveys.read_bytes()
    surveys.write_bytes(raw.replace(b"late, again", b"late, agaiN", 1))
    result = _refresh(main)
    assert not result["unchanged"]
    assert result["check"]["reasons"] == ["source surveys: its contents differ from the inputs of "
                                          "business_buyers 2025Q3-r1, young_urban 2025Q3-r1, families 2025Q3-r1, seniors 2025Q3-r1, all 2025Q3-r1"]
    assert all(str(r.version) == "2025Q3-r2" and r.created for r in result["versions"])
    # Stored with the same digest the check computes: the next refresh is unchanged again.
    assert _refresh(main)["check"]["message"].startswith("2025Q3 unchanged: inputs, configuration and code match r2 of every persona (5)")


def test_a_changed_persona_rule_rebuilds(refreshed, caplog: pytest.LogCaptureFixture):
    from cjm_tasks.config import load_config

    main, _, config = refreshed

    def older_seniors(personas):
        next(p for p in personas if p["id"] == "seniors")["rule"]["all"][1]["value"] = 60

    _edit_personas(main, older_seniors)
    with caplog.at_level(logging.INFO, logger="cjm_tasks.run.unchanged"):
        result = _refresh(main)
    assert not result["unchanged"] and result["versions"]
    [reason] = result["check"]["reasons"]
    assert reason.startswith("the configuration (hash ") and "seniors 2025Q3-r1" in reason and "all 2025Q3-r1" in reason
    assert f"2025Q3 is not unchanged: {reason}" in caplog.messages
    assert {r.manifest["lineage"]["config_sha256"] for r in result["versions"]} == {load_config(main).sha256()} != {config.sha256()}


def test_a_new_persona_rebuilds(refreshed):
    main, _, _ = refreshed

    def add_persona(personas):
        personas.append({"id": "northerners", "name": "Northerners", "rule": {"field": "region", "op": "eq", "value": "north"}})

    _edit_personas(main, add_persona)
    result = _refresh(main)
    assert not result["unchanged"]
    assert "no stored version of 2025Q3 for persona(s) northerners" in result["check"]["reasons"][0]
    assert {r.persona: r.created for r in result["versions"]}["northerners"]


def test_an_input_moved_or_missing_is_not_unchanged(refreshed):
    from cjm_tasks.config import load_config
    from cjm_tasks.periods import Period
    from cjm_tasks.run.unchanged import compare_with_stored

    main, data, _ = refreshed
    config, q3 = load_config(main), Period.parse(Q3)
    assert compare_with_stored(config, q3).unchanged
    part = data / Q3 / "sales" / "part-00001.parquet"
    part.rename(part.with_name("part-00009.parquet"))  # the same bytes under another name
    assert compare_with_stored(config, q3).reasons == [
        "source sales: its files differ from the inputs of business_buyers 2025Q3-r1, young_urban 2025Q3-r1, "
        "families 2025Q3-r1, seniors 2025Q3-r1, all 2025Q3-r1"]
    (data / "customers.csv").rename(data / "customers.old")
    assert f"source customers: no file matches {data}/customers.csv" in compare_with_stored(config, q3).reasons


def test_a_revision_built_by_other_code_is_not_unchanged(refreshed):
    import json

    from cjm_tasks.periods import Period
    from cjm_tasks.run.lineage import code_version
    from cjm_tasks.run.unchanged import compare_with_stored

    _, _, config = refreshed
    # As the manifest of a revision stored by an earlier release reads.
    manifest = Path(config.storage.versions) / "maps" / "seniors" / Q3 / "r1" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "code_version": "0.9.0"}))
    assert compare_with_stored(config, Period.parse(Q3)).reasons == [
        f"the code version {code_version()} differs from that of seniors 2025Q3-r1 (0.9.0)"]


def test_file_digests_in_chunks_are_the_readers_on_a_folder_and_on_s3(tmp_path: Path, bucket: str, s3_env: str):
    import boto3

    from cjm_tasks.config import S3Config, load_config
    from cjm_tasks.ingest.sources import read_source
    from cjm_tasks.periods import Period
    from cjm_tasks.run.unchanged import file_sha256, fingerprint_inputs
    from cjm_tasks.storage import expand_location

    raw = bytes(range(256)) * 1000 + b"tail"
    (tmp_path / "blob.bin").write_bytes(raw)
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").put_object(Bucket=bucket, Key="x/blob.bin", Body=raw)
    for location in (str(tmp_path / "blob.bin"), f"s3://{bucket}/x/blob.bin"):
        [(_, storage, key)] = expand_location(location, S3Config(endpoint_url=s3_env))
        assert file_sha256(storage, key, chunk=1000) == hashlib.sha256(raw).hexdigest(), location

    q3 = Period.parse(Q3)
    config = load_config(write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data")))
    prints, unreadable = fingerprint_inputs(config, q3)
    assert unreadable == {} and set(prints) == set(config.sources)
    for name, found in prints.items():
        read = read_source(name, config, q3)
        assert (found.sha256, found.location) == (read.sha256, ", ".join(f.location for f in read.files)), name
    elsewhere = load_config(write_config(tmp_path / "cfg2", tmp_path / "data", sources={"customers": {"location": f"s3://{bucket}-gone/customers.csv"}}))
    assert "cannot be listed" in fingerprint_inputs(elsewhere, q3)[1]["customers"]


@pytest.fixture
def postgres_url():
    """A fresh database on this machine's PostgreSQL server (skipped where none runs)."""
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine("postgresql://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"cjm_unchanged_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432 ({str(exc).splitlines()[0]})")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_a_sql_source_is_never_unchanged(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch):
    import pandas as pd
    import sqlalchemy as sa

    data = write_small_inputs(tmp_path / "data")
    engine = sa.create_engine(postgres_url)
    pd.read_csv(data / "customers.csv").to_sql("customers", engine, index=False)
    engine.dispose()
    monkeypatch.setenv("CUSTOMERS_DB", postgres_url)
    sql = {"url": "${CUSTOMERS_DB}", "query": "SELECT customer_id, segment, age, region FROM customers ORDER BY customer_id"}
    main = write_config(tmp_path / "cfg", data, sources={"customers": {"format": "sql", "location": None, "sql": sql}})
    first = _refresh(main)
    assert all(r.created for r in first["versions"])
    again = _refresh(main)  # same rows, same files: still read, built and compared by the store
    assert not again["unchanged"] and not any(r.created for r in again["versions"])
    assert again["check"]["reasons"] == ["source customers is a SQL query: it has no checksum short of running it"]


@pytest.mark.airflow
def test_airflow_skips_every_task_after_the_check_for_an_unchanged_quarter(tmp_path: Path, airflow_home: Path):  # noqa: F811
    from cjm_tasks.config import load_config

    main = write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"))
    config = load_config(main)
    date = "2025-10-01T06:00:00+00:00"  # the scheduled run that refreshes 2025Q3
    first = run_dag(airflow_home, main, "cjm_quarterly_refresh", date)
    assert first["state"] == "success" and first["tasks"]["check_unchanged"] == "success", first
    outputs = [Path(config.storage.versions), Path(config.storage.site), Path(config.storage.work) / "validation"]
    before = _listing(*outputs)
    runs = set((Path(config.storage.work) / "runs").iterdir())

    again = run_dag(airflow_home, main, "cjm_quarterly_refresh", "2026-02-01T00:00:00+00:00", {"period": Q3})
    assert again["state"] == "success", again
    assert (again["tasks"]["resolve_period"], again["tasks"]["snapshot_config"], again["tasks"]["check_unchanged"]) == ("success",) * 3
    skipped = {"wait_for_inputs", "list_sources", "read_source", "validate_sources", "prepare_personas", "build_map", "store_versions",
               "render_site", "publish_site", "notify", "clean_workspaces"}
    assert {key.split("[")[0] for key, state in again["tasks"].items() if state == "skipped"} == skipped, again
    assert _listing(*outputs) == before
    assert set((Path(config.storage.work) / "runs").iterdir()) == runs  # the second run's workspace is gone

    forced = run_dag(airflow_home, main, "cjm_quarterly_refresh", "2026-02-02T00:00:00+00:00", {"period": Q3, "force": True})
    assert forced["state"] == "success" and forced["tasks"]["store_versions"] == "success", forced
    assert [p for p in _listing(Path(config.storage.versions)) if p.endswith("manifest.json")] == \
        [p for p in before if p.startswith(config.storage.versions) and p.endswith("manifest.json")]

