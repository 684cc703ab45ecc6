"""Storing and publishing safely: what can be checked is checked before the first write, a refresh
stopped half-way is reported by `verify` and completed by the next one, interrupted writes leave
nothing among the files, debug logs show no credential, and an unreachable S3 is named."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cjm_tasks.config import load_config
from cjm_tasks.ids import IdError
from cjm_tasks.periods import Period
from cjm_tasks.run import steps
from cjm_tasks.run.pipeline import check_locations, open_version_store, store_maps
from cjm_tasks.run.workspace import Workspace
from cjm_tasks.storage import STAGING, TEMP_MAX_AGE, LocalStorage, StorageError
from tests.conftest import cjm, free_port, write_config

# Three maps (families, seniors, all) a refresh of tests.conftest.write_small_inputs built for
# 2025Q3: storing and publishing them takes a second, building them takes many.
MAPS = Path(__file__).parent / "data" / "maps_2025Q3.json"


def small_maps() -> dict[str, dict]:
    return json.loads(MAPS.read_text(encoding="utf-8"))


def nothing_under(path: Path) -> bool:
    return not path.exists() or not any(p.is_file() for p in path.rglob("*"))


# ------------------------------------------------------------------ fail before writing


def test_a_site_that_is_a_file_stops_the_refresh_before_anything_is_written(tmp_path: Path):
    site = tmp_path / "site.html"
    site.write_text("not a folder")
    main = write_config(tmp_path / "cfg", tmp_path / "data",
                        storage={"work": str(tmp_path / "work"), "versions": str(tmp_path / "store"), "site": str(site)})
    done = cjm("refresh", "--period", "2025Q3", config=main)
    assert done.returncode == 1, done.stderr
    assert f"storage.site: {site}: is a file; expected a folder" in done.stderr and str(main) in done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "store").exists() and not (tmp_path / "work").exists()
    assert site.read_text() == "not a folder"


@pytest.mark.parametrize("which", ["site", "versions"])
def test_storing_checks_every_location_before_the_first_version(tmp_path: Path, which: str):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    storage = {"work": str(tmp_path / "work"), "versions": str(tmp_path / "store"), "site": str(tmp_path / "site")}
    storage[which] = str(blocker / "inside")
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", storage=storage))
    with pytest.raises(StorageError, match=rf"storage\.{which}: {blocker}/inside: cannot be created: {blocker} is a file"):
        store_maps(config, small_maps())
    assert nothing_under(tmp_path / "store") and nothing_under(tmp_path / "site")


def test_a_persona_id_no_file_system_takes_is_refused_before_the_first_version(tmp_path: Path):
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data"))
    maps = small_maps()
    long_id = "p" * 300
    maps = {**maps, long_id: {**maps["families"], "persona": {**maps["families"]["persona"], "id": long_id}}}
    with pytest.raises(IdError, match="too long: 300 characters"):
        store_maps(config, maps)
    assert nothing_under(Path(config.storage.versions))


def test_the_dags_first_step_checks_before_it_makes_the_workspace(tmp_path: Path):
    (tmp_path / "site").write_text("a file")
    main = write_config(tmp_path / "cfg", tmp_path / "data",
                        storage={"work": str(tmp_path / "work"), "versions": str(tmp_path / "store"), "site": str(tmp_path / "site")})
    with pytest.raises(StorageError, match="storage.site: .* is a file"):
        steps.snapshot_config(str(main), "scheduled__2025-10-01T06:00:00+00:00")
    assert not (tmp_path / "work").exists()


def test_a_missing_bucket_is_refused_before_writing(tmp_path: Path, bucket: str, s3_env: str):
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data", s3={"endpoint_url": s3_env, "region": "us-east-1"},
                                      storage={"work": f"s3://{bucket}/work", "versions": f"s3://{bucket}/store",
                                               "site": "s3://no-such-bucket-cjm/site"}))
    with pytest.raises(StorageError, match="storage.site: s3://no-such-bucket-cjm/site: bucket 'no-such-bucket-cjm' does not exist"):
        check_locations(config)
    with pytest.raises(StorageError, match="no-such-bucket-cjm"):
        store_maps(config, small_maps())
    assert open_version_store(config).storage.list() == []


# ------------------------------------------------------------------ a half-applied quarter


def test_a_refresh_stopped_half_way_is_reported_then_completed_by_the_next(tmp_path: Path):
    main = write_config(tmp_path / "cfg", tmp_path / "data")
    config = load_config(main)
    maps = small_maps()
    assert list(maps) == ["all", "families", "seniors"]  # the order they are stored in
    obstacle = Path(config.storage.versions) / "maps" / "families"
    obstacle.parent.mkdir(parents=True)
    obstacle.write_text("in the way")  # families cannot be stored: its folder is a file

    first = Workspace.create(config, "run-1")
    with pytest.raises(StorageError, match="maps/families/2025Q3/r1/map.json: cannot be written"):
        steps.store_versions(first, [first.save_map(persona, doc, "test") for persona, doc in maps.items()])
    store = open_version_store(config)
    [unfinished] = store.unfinished()
    assert (unfinished.period, unfinished.run_id, unfinished.stored, unfinished.missing) == ("2025Q3", "run-1", ["all"], ["families", "seniors"])
    verified = cjm("versions", "verify", config=main)
    assert verified.returncode == 1
    assert "2025Q3: half-applied by run run-1" in verified.stderr and "stored all; missing families, seniors" in verified.stderr

    # The next refresh of the quarter is not stopped as unchanged: it completes the quarter.
    obstacle.unlink()
    second = Workspace.create(config, "run-2")
    check = steps.check_unchanged(second, "2025Q3")
    assert check["unchanged"] is False and "run-1" in check["reasons"][0]
    stored = steps.store_versions(second, [second.save_map(persona, doc, "test") for persona, doc in maps.items()])
    assert [(r.persona, r.created) for r in stored] == [("all", False), ("families", True), ("seniors", True)]
    assert {u.run_id: u.missing for u in store.unfinished()} == {"run-1": [], "run-2": []}  # stored, not yet published
    site = steps.publish_site(second, steps.render_site(second))
    assert site.latest == "2025Q3"
    assert store.unfinished() == [] and store.verify() == []
    assert sorted(v.persona for v in store.list()) == ["all", "families", "seniors"]


def test_store_maps_outside_a_refresh_clears_its_marker_when_everything_is_stored(tmp_path: Path):
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data"))
    store_maps(config, small_maps())
    store = open_version_store(config)
    assert store.unfinished() == [] and store.storage.list("pending/") == [] and store.verify() == []


# ------------------------------------------------------------------ temporary files


def test_temporaries_of_gone_or_old_writers_are_removed_and_a_live_ones_kept(tmp_path: Path):
    storage = LocalStorage(tmp_path / "site")
    storage.write_bytes("personas/a/index.html", b"page")
    assert storage.temporaries() == [] and [p.name for p in (tmp_path / "site" / "personas" / "a").iterdir()] == ["index.html"]

    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    host, me = socket.gethostname(), os.getpid()
    left = {
        "dead": f"{STAGING}/.{host}.{gone}.a1.tmp",          # its writer was killed
        "live": f"{STAGING}/.{host}.{me}.b2.tmp",            # this process is writing it
        "old": f"{STAGING}/.{host}.{me}.c3.tmp",             # alive, but no write takes an hour
        "elsewhere": f"{STAGING}/.other-host.{me}.d4.tmp",   # another machine's run, recent
        "beside": "personas/a/.index.html.e5.tmp",            # where writers used to put them
    }
    for key in left.values():
        path = tmp_path / "site" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a page")
    stale = time.time() - TEMP_MAX_AGE - 60
    os.utime(tmp_path / "site" / left["old"], (stale, stale))

    assert storage.temporaries() == sorted(left.values())
    assert storage.list() == ["personas/a/index.html"]  # never a key
    assert sorted(storage.remove_temporaries()) == sorted(left[k] for k in ("dead", "old", "beside"))
    assert storage.temporaries() == sorted(left[k] for k in ("live", "elsewhere"))


def test_verify_lists_temporary_files_in_the_store(tmp_path: Path):
    config = load_config(write_config(tmp_path / "cfg", tmp_path / "data"))
    store_maps(config, small_maps())
    leftover = Path(config.storage.versions) / "maps" / "all" / "2025Q3" / "r1" / ".map.json.x1.tmp"
    leftover.write_bytes(b"{")
    store = open_version_store(config)
    assert store.verify() == [f"{leftover}: temporary file left by an interrupted write (the next refresh removes it)"]
    store_maps(config, small_maps())
    assert not leftover.exists() and store.verify() == []


# ------------------------------------------------------------------ debug logs and S3 errors


def test_debug_logs_show_no_credential(tmp_path: Path, s3_server: str, monkeypatch: pytest.MonkeyPatch):
    key_id, secret, token = "AKIA" + "CJMFAKEKEYID7777", "cjmFakeSecret/0123456789abcdefghijklmnopqrst", "cjmFakeSessionToken42xyz"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"cjm-debug-{os.getpid()}"
    main = write_config(tmp_path / "cfg", tmp_path / "data", s3={"endpoint_url": s3_server, "region": "us-east-1"},
                        storage={"work": f"s3://{bucket}/work", "versions": f"s3://{bucket}/store", "site": f"s3://{bucket}/site"})
    config = load_config(main)
    open_version_store(config).storage.client.create_bucket(Bucket=bucket)
    store_maps(config, small_maps())

    for args in (("versions", "list"), ("versions", "verify")):
        done = cjm("--debug", *args, config=main)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "'Authorization': b'***'" in done.stderr  # botocore did log its signed requests
        for value in (key_id, secret, token):
            assert value not in done.stderr and value not in done.stdout


def test_redacting_filter_masks_signatures_and_known_secrets(monkeypatch: pytest.MonkeyPatch):
    import io

    from cjm_tasks.logs import redact_logs

    monkeypatch.setenv("CJM_SMTP_PASSWORD", "hunter2-but-longer")
    stream = io.StringIO()
    logger = logging.getLogger("cjm-test-redaction")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        redact_logs(logger)
        logger.warning("GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAQQQQ%2F2025&X-Amz-Signature=abcdef&x=1")
        logger.warning("login with %s", "hunter2-but-longer")
        try:
            raise RuntimeError("password hunter2-but-longer refused")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "AKIAQQQQ" not in text and "abcdef" not in text and "hunter2" not in text
    assert "X-Amz-Credential=***&X-Amz-Signature=***&x=1" in text and "login with ***" in text and "password *** refused" in text


def test_an_unreachable_s3_is_named_with_its_endpoint_and_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    main = write_config(tmp_path / "cfg", tmp_path / "data", s3={"endpoint_url": endpoint, "region": "us-east-1"},
                        storage={"work": "s3://cjm-outage/work", "versions": "s3://cjm-outage/store", "site": "s3://cjm-outage/site"})
    done = cjm("versions", "list", config=main)
    assert done.returncode == 1
    assert f"s3://cjm-outage/store/maps/: the S3 storage at {endpoint} could not be reached after 2 attempts" in done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(StorageError, match=rf"storage\.work: s3://cjm-outage/work: the S3 storage at {endpoint} could not be reached after 2 attempts"):
        steps.refresh(load_config(main), Period.parse("2025Q3"))


def test_an_airflow_step_redacts_the_logs_it_writes(tmp_path: Path):
    from cjm_tasks.logs import RedactingFilter
    from cjm_tasks.run.airflow import run_step

    handle = steps.snapshot_config(str(write_config(tmp_path / "cfg", tmp_path / "data")), "run-1")
    assert run_step("list_sources", workspace=handle) == ["surveys", "reviews", "sales", "customers"]
    handlers = logging.getLogger().handlers
    assert handlers and all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers)
