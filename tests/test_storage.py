"""The storage interface on a folder and on a real S3-compatible server, including retries."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cjm_tasks.config import S3Config
from cjm_tasks.storage import LocalStorage, S3Storage, StorageError, open_storage, s3_client
from tests.conftest import free_port


@pytest.fixture(params=["folder", "s3"])
def storage(request, tmp_path: Path):
    if request.param == "folder":
        return LocalStorage(tmp_path / "root")
    bucket = request.getfixturevalue("bucket")
    return open_storage(f"s3://{bucket}/some/prefix", S3Config(endpoint_url=request.getfixturevalue("s3_env")))


def test_round_trip_list_exists_and_conditional_create(storage):
    assert storage.list() == [] and not storage.exists("a/b.json")
    assert storage.write_bytes("a/b.json", b"one", content_type="application/json")
    assert storage.read_bytes("a/b.json") == b"one" and storage.exists("a/b.json")
    assert storage.write_bytes("a/b.json", b"two", if_absent=True) is False  # refused: it exists
    assert storage.read_bytes("a/b.json") == b"one"
    assert storage.write_bytes("a/c.json", b"three", if_absent=True) is True
    storage.write_bytes("d.txt", b"x")
    assert storage.list() == ["a/b.json", "a/c.json", "d.txt"] and storage.list("a/") == ["a/b.json", "a/c.json"]
    with pytest.raises(StorageError, match="no such"):
        storage.read_bytes("missing.json")


def test_local_writes_leave_no_temporary_files_and_are_readable(tmp_path: Path):
    import os
    import stat

    storage = LocalStorage(tmp_path)
    storage.write_bytes("x/y.json", b"1")
    storage.write_bytes("x/y.json", b"2", if_absent=True)
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["y.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # the staging folder goes when the write is done
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "x" / "y.json").stat().st_mode) == 0o666 & ~umask


def test_s3_calls_are_retried_with_backoff_until_the_server_answers(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    import logging

    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    started = threading.Event()

    def start_after_a_failed_attempt(caught_exception=None, **_):
        # The server comes up only once an attempt has failed to reach it (a timer raced the
        # client's own start-up on a loaded machine), before botocore decides to retry.
        if caught_exception is not None and not started.is_set():
            started.set()
            server.start()

    try:
        with caplog.at_level(logging.DEBUG, logger="botocore.retries.standard"):
            client = s3_client(S3Config(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1"))
            client.meta.events.register("needs-retry.s3", start_after_a_failed_attempt)
            client.create_bucket(Bucket="late-bucket")
        assert S3Storage("late-bucket", "", client).list() == []
        retries = [r for r in caplog.records if "Retry needed" in r.getMessage()]
        assert retries, "the first attempt should have failed and been retried"
    finally:
        if started.is_set():
            server.stop()


def test_bad_bucket_name_is_a_clear_error():
    with pytest.raises(StorageError, match="bucket name of 3 or more characters"):
        open_storage("s3://ab/prefix")


def _write_many(root: str, name: str, count: int) -> None:
    storage = LocalStorage(root)
    for i in range(count):
        assert storage.write_bytes(f"{name}/{i}.json", b"{}", if_absent=True)


def test_writers_in_two_processes_never_trip_over_the_staging_folder_the_other_removes(tmp_path: Path):
    # Each write makes the shared staging folder and removes it when empty: the other process's
    # mkdir or mkstemp can find it gone in between (it raised "File exists" from mkdir).
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), name, 400)) for name in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(LocalStorage(str(tmp_path)).list()) == 800 and not (tmp_path / ".cjm-tmp").exists()
