"""The version store, on a local folder and on a real S3-compatible server over HTTP."""

from __future__ import annotations

import copy
import json
import multiprocessing
from pathlib import Path

import pytest

from cjm_tasks import jsonio
from cjm_tasks.config import load_config
from cjm_tasks.periods import Period
from cjm_tasks.storage import LocalStorage, S3Storage, s3_client
from cjm_tasks.versions.store import VersionError, VersionId, VersionStore, content_hash
from tests.conftest import write_config, write_small_inputs


def _map(persona: str = "families", period: str = "2025Q3", customers: int = 10, code: str = "1.0") -> dict:
    return {
        "schema_version": 1,
        "persona": {"id": persona, "name": persona.title(), "description": "", "customers": customers},
        "period": period,
        "stages": [{"id": "purchase", "name": "Purchase", "barriers": [], "too_few": False, "touchpoints": [],
                    "metrics": {"samples": {}, "intervals": {}, "rates": {}}}],
        "summary": {"customers": customers, "barriers": {"total": 0}, "top_barriers": []},
        "lineage": {"inputs": {"sales": {"sha256": "a" * 64}}, "config_sha256": "b" * 64, "code_version": code},
    }


def _diff(previous_map, previous_version, version):
    return {"from": str(previous_version.version) if previous_version else None, "to": str(version),
            "summary": "test diff", "barriers": []}


@pytest.fixture(params=["folder", "s3"])
def backend(request, tmp_path: Path):
    """A factory of storages on one root: a folder, or a bucket on the local S3 server."""
    if request.param == "folder":
        root = tmp_path / "store"
        return lambda: LocalStorage(root)
    bucket = request.getfixturevalue("bucket")
    endpoint = request.getfixturevalue("s3_env")
    from cjm_tasks.config import S3Config

    return lambda: S3Storage(bucket, "cjm/store", s3_client(S3Config(endpoint_url=endpoint, region="us-east-1")))


def test_same_content_is_one_revision_and_new_content_the_next(backend):
    store = VersionStore(backend())
    first = store.store(_map(), _diff)
    again = store.store(_map(code="2.0"), _diff)  # another code version alone is not new content
    assert (first.created, str(first.version)) == (True, "2025Q3-r1")
    assert (again.created, str(again.version)) == (False, "2025Q3-r1")
    changed = store.store(_map(customers=11), _diff)
    assert (changed.created, str(changed.version)) == (True, "2025Q3-r2")
    assert [str(v.version) for v in store.list("families")] == ["2025Q3-r1", "2025Q3-r2"]
    r2 = store.resolve("families", "2025Q3")
    assert str(r2.version) == "2025Q3-r2" and r2.manifest["previous"] == "2025Q3-r1"
    assert store.read_diff(r2)["from"] == "2025Q3-r1"
    assert store.resolve("families", "2025Q3-r1").manifest["content_sha256"] == content_hash(_map())
    assert store.verify() == []


def test_nothing_is_overwritten(backend):
    storage = backend()
    store = VersionStore(storage)
    store.store(_map(), _diff)
    before = {key: storage.read_bytes(key) for key in storage.list("maps/")}
    store.store(_map(), _diff)
    store.store(_map(customers=99), _diff)
    after = {key: storage.read_bytes(key) for key in storage.list("maps/")}
    assert {k: after[k] for k in before} == before
    assert len(after) == len(before) + 3


def test_diff_is_against_the_previous_period_for_a_first_revision(backend):
    store = VersionStore(backend())
    store.store(_map(period="2025Q2"), _diff)
    store.store(_map(period="2025Q4"), _diff)
    q3 = store.store(_map(period="2025Q3", customers=3), _diff)
    assert q3.manifest["previous"] == "2025Q2-r1"


def test_verify_detects_tampered_truncated_and_missing_files(backend):
    storage = backend()
    store = VersionStore(storage)
    store.store(_map(), _diff)
    store.store(_map(persona="seniors"), _diff)
    store.store(_map(persona="all"), _diff)
    doc = json.loads(storage.read_bytes("maps/families/2025Q3/r1/map.json"))
    doc["persona"]["customers"] = 1000
    tampered = jsonio.dumps(doc)
    _overwrite(storage, "maps/families/2025Q3/r1/map.json", tampered)
    diff = storage.read_bytes("maps/seniors/2025Q3/r1/diff.json")
    _overwrite(storage, "maps/seniors/2025Q3/r1/diff.json", diff[: len(diff) // 2])
    problems = store.verify()
    assert any("families/2025Q3-r1: map.json" in p for p in problems), problems
    assert any("seniors/2025Q3-r1: diff.json has" in p and "truncated" in p for p in problems), problems
    assert not any(p.startswith("all/") for p in problems)


def _overwrite(storage, key: str, data: bytes) -> None:
    """Tampering from outside the tool (the store itself never overwrites)."""
    if isinstance(storage, LocalStorage):
        (storage.root / key).write_bytes(data)
    else:
        storage.client.put_object(Bucket=storage.bucket, Key=storage._key(key), Body=data)


def test_an_abandoned_claim_is_completed_not_duplicated(backend):
    storage = backend()
    store = VersionStore(storage)
    # A writer died after claiming r1 (map.json written, no manifest).
    storage.write_bytes("maps/families/2025Q3/r1/map.json", jsonio.dumps(_map()), if_absent=True)
    assert store.list() == [] and store.incomplete() == ["families/2025Q3-r1"]
    assert any("incomplete revision" in p for p in store.verify())
    result = store.store(_map(), _diff)
    assert (str(result.version), result.created) == ("2025Q3-r1", False)
    assert store.incomplete() == [] and store.verify() == []


def test_an_abandoned_claim_with_other_content_keeps_its_number(backend):
    storage = backend()
    store = VersionStore(storage)
    storage.write_bytes("maps/families/2025Q3/r1/map.json", jsonio.dumps(_map(customers=5)), if_absent=True)
    result = store.store(_map(), _diff)
    assert (str(result.version), result.created) == ("2025Q3-r2", True)
    assert store.incomplete() == ["families/2025Q3-r1"]


def _race(make_storage, doc, barrier, queue):
    barrier.wait()
    result = VersionStore(make_storage()).store(doc, _diff)
    queue.put((str(result.version), result.created))


def _two_writers(make_storage, first: dict, second: dict) -> list[tuple[str, bool]]:
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(make_storage, doc, barrier, queue)) for doc in (first, second)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return sorted(queue.get(timeout=5) for _ in procs)


def test_two_processes_storing_the_same_map_make_one_complete_revision(backend):
    for attempt in range(20):
        period = str(Period.parse("2020Q1").range(attempt + 1)[-1])
        doc = _map(period=period)
        results = _two_writers(backend, doc, copy.deepcopy(doc))
        assert [v for v, _ in results] == [f"{period}-r1", f"{period}-r1"], results
        assert sorted(created for _, created in results) == [False, True], results
    store = VersionStore(backend())
    assert len(store.list()) == 20 and store.incomplete() == [] and store.verify() == []


def test_two_processes_storing_different_maps_make_two_complete_revisions(backend):
    for attempt in range(20):
        period = str(Period.parse("2020Q1").range(attempt + 1)[-1])
        results = _two_writers(backend, _map(period=period, customers=1), _map(period=period, customers=2))
        assert results == [(f"{period}-r1", True), (f"{period}-r2", True)], results
    store = VersionStore(backend())
    assert len(store.list()) == 40 and store.incomplete() == [] and store.verify() == []


def test_version_ids():
    assert str(VersionId.parse("2025q3")) == "2025Q3" and VersionId.parse("2025Q3").revision is None
    assert VersionId.parse("2025Q3-r12") == VersionId(Period(2025, 3), 12)
    for bad in ("2025Q5", "2025-r1", "Q3-r1", "2025Q3-rx", "2025Q3-r0", "0000Q1"):
        with pytest.raises(VersionError, match="such as 2025Q3|1900"):
            VersionId.parse(bad)
    for bad in ("../../etc", "a" * 65, "p\x00"):
        with pytest.raises(VersionError, match="persona"):
            VersionStore(LocalStorage(Path("/nonexistent-store"))).list(bad)


def test_resolve_names_what_is_stored(tmp_path: Path):
    store = VersionStore(LocalStorage(tmp_path))
    store.store(_map(), _diff)
    with pytest.raises(VersionError, match=r"no version 2025Q4 of persona 'families' .* \(stored: 2025Q3-r1\)"):
        store.resolve("families", "2025Q4")


def test_refresh_is_idempotent_and_one_changed_row_makes_r2(tmp_path: Path):
    from cjm_tasks.run.pipeline import open_version_store
    from cjm_tasks.run.steps import refresh

    data = write_small_inputs(tmp_path / "data")
    config = load_config(write_config(tmp_path / "cfg", data))
    q3 = Period.parse("2025Q3")
    first = refresh(config, q3)
    second = refresh(config, q3, force=True)  # rebuilt although the inputs are the same: the store keeps r1
    assert all(r.created for r in first["versions"]) and not any(r.created for r in second["versions"])
    store = open_version_store(config)
    assert len(store.list()) == 5  # four personas and `all`, one revision each

    import pandas as pd

    surveys = data / "2025Q3" / "surveys.csv"
    frame = pd.read_csv(surveys, dtype=str, keep_default_na=False)
    frame.loc[3, "score"] = "3" if frame.loc[3, "score"] != "3" else "4"  # valid on every scale
    frame.to_csv(surveys, index=False)
    third = refresh(config, q3)
    assert all(str(r.version) == "2025Q3-r2" and r.created for r in third["versions"])
    everyone = store.resolve("all", "2025Q3")
    diff = store.read_diff(everyone)
    assert (diff["from"], diff["to"]) == ("2025Q3-r1", "2025Q3-r2")
    assert everyone.manifest["lineage"]["inputs"]["surveys"]["sha256"] != store.resolve("all", "2025Q3-r1").manifest["lineage"]["inputs"]["surveys"]["sha256"]
    assert store.verify() == []
