"""One execution path: `cjm refresh` and the Airflow DAG run the same steps, so the same quarter
gives byte-identical maps, diffs and pages; the run's workspace, its configuration snapshot and
the removal of old workspaces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_config, write_sample_config, write_small_inputs
from tests.test_cli import cjm
from tests.test_dags import airflow_home, run_dag  # noqa: F401 (a fixture)

# 2026-01-01T00:00:00Z: every version and validation result of both runs is stamped with it.
EPOCH = "1767225600"


def _files(root: Path, names: tuple[str, ...] | None = None) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and (names is None or p.name in names)}


@pytest.mark.airflow
def test_cli_and_dag_publish_byte_identical_maps_diffs_and_pages(airflow_home: Path, sample_data: Path, tmp_path: Path,  # noqa: F811
                                                                  monkeypatch: pytest.MonkeyPatch):
    from cjm_tasks.config import load_config
    from cjm_tasks.run.pipeline import open_version_store

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    by_cli, by_dag = write_sample_config(tmp_path / "cli", sample_data), write_sample_config(tmp_path / "dag", sample_data)
    refreshed = cjm("refresh", "--period", "2025Q1", config=by_cli)
    assert refreshed.returncode == 0, refreshed.stderr[-3000:]
    ran = run_dag(airflow_home, by_dag, "cjm_quarterly_refresh", "2025-04-01T06:00:00+00:00")
    assert ran["state"] == "success", ran

    cli, dag = load_config(by_cli), load_config(by_dag)
    maps = _files(Path(cli.storage.versions), ("map.json", "diff.json"))
    assert len(maps) == 10 and maps == _files(Path(dag.storage.versions), ("map.json", "diff.json"))
    pages = _files(Path(cli.storage.site))
    assert any(p.endswith("index.html") for p in pages) and pages == _files(Path(dag.storage.site))
    # The runs differ only in what the pages do not show: their ids.
    stored = {config.storage.versions: open_version_store(config).resolve("all", "2025Q1").manifest for config in (cli, dag)}
    assert {m["created_at"] for m in stored.values()} == {"2026-01-01T00:00:00+00:00"}
    assert len({m["run_id"] for m in stored.values()}) == 2
    # Each run's workspace is kept (storage.keep_runs is 2), marked finished, with its snapshot.
    for config in (cli, dag):
        [workspace] = (Path(config.storage.work) / "runs").iterdir()
        assert {"config.json", "finished.json"} <= {p.name for p in workspace.iterdir()}


def test_a_retry_after_an_edit_builds_with_the_snapshot(tmp_path: Path):
    from cjm_tasks.config import load_config
    from cjm_tasks.run import steps
    from cjm_tasks.run.workspace import Workspace

    main = write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"))
    config = load_config(main)
    handle = steps.snapshot_config(str(main), "manual__2025-10-01T06:00:00+00:00")
    edited = yaml.safe_load(main.read_text(encoding="utf-8"))
    edited["project"]["name"] = "Edited after the run started"
    main.write_text(yaml.safe_dump(edited, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert load_config(main).sha256() != config.sha256()

    retried = Workspace.open(json.loads(json.dumps(handle)))  # as the next task gets it, through XCom
    assert retried.config() == config and retried.config().sha256() == config.sha256()
    assert steps.list_sources(retried) == list(config.sources)
    assert Path(retried.storage.url()).parent.name == "runs" and Path(retried.storage.url()).name == "manual__2025-10-01T06_00_00_00_00"


def test_finished_workspaces_beyond_keep_runs_are_removed_and_unfinished_ones_kept(tmp_path: Path):
    from cjm_tasks.run.workspace import prune_workspaces
    from cjm_tasks.storage import LocalStorage

    runs = LocalStorage(tmp_path / "runs")
    for i, run in enumerate(["a", "b", "c", "d"]):
        runs.write_bytes(f"{run}/inputs/sales.parquet", b"rows")
        runs.write_bytes(f"{run}/maps/all.json", b"{}")
        if run != "c":  # c failed: no marker
            runs.write_bytes(f"{run}/finished.json", json.dumps({"finished_at": f"2025-10-0{i + 1}T06:00:00+00:00"}).encode())
    assert prune_workspaces(runs, 2) == ["a"]
    assert sorted(p.name for p in runs.root.iterdir()) == ["b", "c", "d"]
    assert prune_workspaces(runs, 0) == ["d", "b"]
    assert sorted(p.name for p in runs.root.iterdir()) == ["c"] and runs.list("c/")


def test_s3_access_handed_to_storage_reaches_what_a_step_opens(s3_server: str, monkeypatch: pytest.MonkeyPatch):
    import boto3

    from cjm_tasks.config import S3Config
    from cjm_tasks.storage import S3Access, expand_location, handing_s3_access, open_storage

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CJM_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    session = boto3.session.Session(aws_access_key_id="from-connection", aws_secret_access_key="secret", region_name="eu-west-1")
    access = S3Access(session=session, endpoint_url=s3_server)
    open_storage("s3://cjm-access", S3Config(), access).client.create_bucket(
        Bucket="cjm-access", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with handing_s3_access(access):
        open_storage("s3://cjm-access/work", S3Config()).write_bytes("runs/x/config.json", b"{}")
        [(url, storage, key)] = expand_location("s3://cjm-access/work/runs/*/config.json", S3Config())
        assert storage.read_bytes(key) == b"{}" and url == "s3://cjm-access/work/runs/x/config.json"
        assert storage.client.meta.region_name == "eu-west-1"
    assert "AWS_ACCESS_KEY_ID" not in os.environ and "CJM_S3_ENDPOINT_URL" not in os.environ


def test_clean_workspaces_removes_the_notices_of_removed_runs_and_keeps_this_runs(tmp_path: Path):
    """A run's saved notice (for its success callback) goes once its workspace is gone; the run
    that cleans keeps its own even when keep_runs is 0 (its callback runs after the cleaning)."""
    from cjm_tasks.config import load_config
    from cjm_tasks.run import steps
    from cjm_tasks.run.notify import NOTICES
    from cjm_tasks.run.workspace import Workspace
    from cjm_tasks.storage import open_storage

    main = write_config(tmp_path / "cfg", write_small_inputs(tmp_path / "data"))
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["storage"]["keep_runs"] = 0
    main.write_text(yaml.safe_dump(doc), encoding="utf-8")
    config = load_config(main)
    work = open_storage(config.storage.work)
    a, b, c = (Workspace.create(config, run) for run in ("run-a", "run-b", "run-c"))  # c: still running, or failed
    for run in ("run-a", "run-b", "run-c", "gone"):
        work.write_bytes(f"{NOTICES}/{run}.json", b"{}")
    assert steps.clean_workspaces(a) == ["run-a"]
    # Its own notice stays for the callback; that of a run without a workspace goes.
    assert work.list(f"{NOTICES}/") == [f"{NOTICES}/{run}.json" for run in ("run-a", "run-b", "run-c")]
    assert steps.clean_workspaces(b) == ["run-b"]
    assert work.list(f"{NOTICES}/") == [f"{NOTICES}/run-b.json", f"{NOTICES}/run-c.json"]
