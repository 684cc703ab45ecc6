"""Publishing: immutable version pages, pointer last, and a publish killed half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cjm_tasks.config import S3Config
from cjm_tasks.site.publish import content_type, publish_site
from cjm_tasks.storage import STAGING, StorageError, open_storage

PERSONAS = ["alpha", "beta", "gamma", "delta", "all"]


def fake_site(periods: list[str], pages_per_version: int = 5, marker: str = "") -> dict[str, bytes]:
    """A site shaped like the real one: version pages, period pages linking to them, an index."""
    files: dict[str, bytes] = {}
    for period in periods:
        links = []
        for persona in PERSONAS:
            base = f"personas/{persona}/{period}-r1"
            files[f"{base}/index.html"] = f"<h1>{persona} {period}{marker}</h1>".encode()
            for n in range(pages_per_version - 1):
                files[f"{base}/export-{n}.json"] = json.dumps({"persona": persona, "period": period, "n": n}).encode()
            links.append(f"../../{base}/index.html")
        files[f"periods/{period}/index.html"] = "".join(f'<a href="{link}">x</a>' for link in links).encode()
    files["index.html"] = "".join(f'<a href="periods/{p}/index.html">{p}</a>' for p in periods).encode()
    return files


@pytest.fixture(params=["folder", "s3"])
def site_location(request, tmp_path: Path) -> tuple[str, S3Config | None]:
    if request.param == "folder":
        return str(tmp_path / "site"), None
    bucket = request.getfixturevalue("bucket")
    return f"s3://{bucket}/reports", S3Config(endpoint_url=request.getfixturevalue("s3_env"), region="us-east-1")


def _read(site, key: str) -> bytes | None:
    try:
        return site.read_bytes(key)
    except StorageError:
        return None


def test_publish_writes_everything_then_the_pointer(site_location):
    location, s3 = site_location
    site = open_storage(location, s3)
    files = fake_site(["2025Q1", "2025Q2"])
    result = publish_site(files, site)
    assert result.latest == "2025Q2" and result.written[-2:] == ["latest.json", "latest/index.html"]
    assert result.written.index("index.html") > max(result.written.index(p) for p in files if p.startswith("periods/"))
    for path, data in files.items():
        assert site.read_bytes(path) == data
    assert json.loads(site.read_bytes("latest.json")) == {"period": "2025Q2", "page": "periods/2025Q2/index.html"}
    assert b"url=../periods/2025Q2/index.html" in site.read_bytes("latest/index.html")


def test_republishing_changes_nothing_and_never_overwrites_a_version(site_location):
    location, s3 = site_location
    site = open_storage(location, s3)
    publish_site(fake_site(["2025Q1"]), site)
    again = publish_site(fake_site(["2025Q1"]), site)
    assert again.written == []
    changed = publish_site(fake_site(["2025Q1"], marker=" (rendered by newer code)"), site)
    assert not any(p.startswith("personas/") for p in changed.written)
    assert site.read_bytes("personas/alpha/2025Q1-r1/index.html") == b"<h1>alpha 2025Q1</h1>"


def test_content_types():
    assert content_type("a/index.html") == "text/html; charset=utf-8"
    assert content_type("map.json") == "application/json" and content_type("b.csv") == "text/csv; charset=utf-8"
    assert content_type("summary.md") == "text/markdown; charset=utf-8"


def test_s3_objects_get_their_content_type(bucket: str, s3_env: str):
    import boto3

    site = open_storage(f"s3://{bucket}/reports", S3Config(endpoint_url=s3_env))
    publish_site(fake_site(["2025Q1"]), site)
    head = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").head_object(Bucket=bucket, Key="reports/index.html")
    assert head["ContentType"] == "text/html; charset=utf-8"


CHILD = r"""
import json, sys
sys.path.insert(0, {repo!r})
from tests.test_publish import fake_site
from cjm_tasks.config import S3Config
from cjm_tasks.site.publish import publish_site
from cjm_tasks.storage import open_storage
s3 = S3Config(endpoint_url={endpoint!r}, region="us-east-1") if {endpoint!r} else None
site = open_storage({location!r}, s3)
files = fake_site({periods!r}, pages_per_version=12)
site.exists("index.html")  # connect before saying ready, so the kill timing is about the writes
print("ready", flush=True)
publish_site(files, site)
print("done", flush=True)
"""


def _complete(site, period: str) -> bool:
    page = _read(site, f"periods/{period}/index.html")
    if page is None:
        return False
    for persona in PERSONAS:
        base = f"personas/{persona}/{period}-r1"
        if any(_read(site, f"{base}/{name}") is None for name in ["index.html", *(f"export-{n}.json" for n in range(11))]):
            return False
    return True


def test_a_publish_killed_half_way_leaves_latest_on_the_previous_complete_version(site_location):
    location, s3 = site_location
    site = open_storage(location, s3)
    publish_site(fake_site(["2025Q3"], pages_per_version=12), site)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    interrupted = 0
    step = 0.01 if s3 is None else 0.04
    for attempt in range(1, 60):
        script = CHILD.format(repo=str(Path(__file__).resolve().parents[1]), endpoint=s3.endpoint_url if s3 else "",
                              location=location, periods=["2025Q3", "2025Q4"])
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(step * attempt)  # kill a little later each time, until one publish completes
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        if s3 is None:
            assert _temporaries(Path(location), outside_staging=True) == [], "a temporary file beside the published pages"
        latest = json.loads(_read(site, "latest.json"))["period"]
        assert latest in ("2025Q3", "2025Q4")
        assert _complete(site, latest), f"latest points at {latest}, which is incomplete"
        q4_started = _read(site, "personas/all/2025Q4-r1/export-0.json") is not None  # the first new file written
        if latest == "2025Q3" and q4_started:
            interrupted += 1
        if latest == "2025Q4" or interrupted >= 3:
            break  # enough kills landed mid-publish, or one finished: nothing left to interrupt
    print(f"{attempt} attempts, {interrupted} killed between the first new page and the pointer switch")
    assert interrupted >= 1, "no kill landed between the first new page and the pointer switch"
    publish_site(fake_site(["2025Q3", "2025Q4"], pages_per_version=12), site)
    assert json.loads(site.read_bytes("latest.json"))["period"] == "2025Q4" and _complete(site, "2025Q4")
    assert site.temporaries() == [] and (s3 is not None or _temporaries(Path(location)) == [])


def _temporaries(root: Path, outside_staging: bool = False) -> list[str]:
    """Every temporary file under ``root`` (or only those outside the staging folder)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp")
                  if p.is_file() and not (outside_staging and STAGING in p.relative_to(root).parts))


REFRESH_CHILD = r"""
import json, sys
sys.path.insert(0, {repo!r})
from cjm_tasks.config import load_config
from cjm_tasks.run import steps
from cjm_tasks.run.workspace import Workspace
config = load_config({config!r})
workspace = Workspace.create(config, {run_id!r})
keys = [workspace.save_map(persona, doc, "child") for persona, doc in json.loads(open({maps!r}).read()).items()]
print("ready", flush=True)
steps.store_versions(workspace, keys)
steps.publish_site(workspace, steps.render_site(workspace))
print("done", flush=True)
"""


def test_a_refresh_killed_while_storing_is_reported_by_verify_and_the_next_run_leaves_no_temporary(tmp_path: Path):
    """The store and publish steps of a refresh (as the DAG and `cjm refresh` run them) killed
    at the first stored version, then in the middle of publishing: `verify` names the
    half-applied quarter; the next run completes it and removes whatever the kills left."""
    from cjm_tasks.config import load_config
    from cjm_tasks.run import steps
    from cjm_tasks.run.pipeline import open_version_store
    from cjm_tasks.run.workspace import Workspace
    from tests.conftest import write_config
    from tests.test_safe_storing import MAPS, small_maps

    repo = Path(__file__).resolve().parents[1]
    main = write_config(tmp_path / "cfg", tmp_path / "data")
    config = load_config(main)
    store_root, site_root = Path(config.storage.versions), Path(config.storage.site)

    def killed_when(run_id: str, landed) -> bool:
        """Run the child until ``landed()`` says the kill point is reached, then SIGKILL it;
        whether it was killed (rather than finished first)."""
        script = REFRESH_CHILD.format(repo=str(repo), config=str(main), run_id=run_id, maps=str(MAPS))
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while not landed() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        finished = child.poll() is not None
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        return not finished

    # Killed as soon as the first persona is stored: the others are not.
    assert killed_when("run-killed-storing", lambda: any(store_root.glob("maps/*/2025Q3/r1/manifest.json")))
    store = open_version_store(config)
    [unfinished] = store.unfinished()
    assert unfinished.run_id == "run-killed-storing" and unfinished.stored
    assert any(problem.startswith("2025Q3: half-applied by run run-killed-storing") for problem in store.verify())

    # Killed while publishing (the first version page written): every version stored, the site not complete.
    if killed_when("run-killed-publishing", lambda: any(site_root.glob("personas/*/*/*"))):
        assert {u.run_id: u.missing for u in store.unfinished()} == {"run-killed-storing": [], "run-killed-publishing": []}
    else:  # it finished before the kill landed: its publish superseded the run killed while storing
        assert store.unfinished() == []
    assert _temporaries(site_root, outside_staging=True) == [] and _temporaries(store_root, outside_staging=True) == []

    # The next run: everything stored and published, no marker, no temporary file left anywhere.
    following = Workspace.create(config, "run-next")
    steps.store_versions(following, [following.save_map(persona, doc, "test") for persona, doc in small_maps().items()])
    result = steps.publish_site(following, steps.render_site(following))
    assert result.latest == "2025Q3" and (site_root / "latest.json").is_file()
    assert store.unfinished() == [] and store.verify() == []
    assert _temporaries(store_root) == [] and _temporaries(site_root) == []
