"""Shared fixtures: small real input files, a config pointing at them, a real local S3 server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# An xdist worker runs as `python -c ...`: its __main__ has neither __spec__ nor __file__, which
# PySpark's Connect module (imported by Great Expectations) takes for a doctest run and answers
# with sys.exit(0) when grpc_status is missing. The worker's __main__ is given the file it has in
# a plain `pytest` run, so a test sees the same process either way.
_main = sys.modules["__main__"]
if os.environ.get("PYTEST_XDIST_WORKER") and getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = str(Path(sys.executable).parent / "pytest")


# `make test` runs two xdist workers that take whole files (--dist loadfile, so a module's fixtures
# are set up once) in the order collected (--no-loadscope-reorder). The files that take longest go
# first, so that the last file to finish is a short one and the two workers end together. Seconds
# in a two-worker run on 2 cores; a file not listed runs after these, in the usual order.
SLOW_FILES = {
    "test_unchanged.py": 225, "test_dags.py": 210, "test_your_data.py": 195, "test_celery_integration.py": 185,
    "test_secrets.py": 120, "test_notifiers.py": 115, "test_hostile.py": 110, "test_gate_engines.py": 95, "test_cli.py": 85, "test_run_paths.py": 80,
    "test_dag_waiting.py": 70, "test_engines.py": 60, "test_journey.py": 60, "test_versions.py": 55, "test_fuzz_inputs.py": 55, "test_publish.py": 50,
    "test_suggest.py": 45, "test_compare_links.py": 45, "test_reader_limits.py": 40, "test_streaming_read.py": 35, "test_site_browser.py": 35,
    "test_personas.py": 35, "test_wheel.py": 30, "test_diff.py": 30, "test_summary_consistency.py": 25, "test_validate.py": 25,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: the usual order
    first = {}
    for index, item in enumerate(items):
        first.setdefault(item.path, index)
    items.sort(key=lambda item: (-SLOW_FILES.get(item.path.name, 0), first[item.path]))


def cjm(*args: str, config: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The cjm command as a user runs it (a new process), with ``--config`` when given."""
    command = [sys.executable, "-m", "cjm_tasks.cli", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_small_inputs(folder: Path, period: str = "2025Q3", rows: int = 40) -> Path:
    """Write a small, valid set of the four sources for ``period`` into ``folder/<period>/``.

    Surveys CSV, reviews JSON Lines, sales Parquet (two part files), customers CSV; every value
    inside the period and known to configs/stages.yaml.
    """
    from cjm_tasks.periods import Period

    p = Period.parse(period)
    start = pd.Timestamp(p.start("UTC"))
    out = folder / period
    (out / "sales").mkdir(parents=True, exist_ok=True)
    customers = [f"C{i:04d}" for i in range(rows)]
    pd.DataFrame({
        "customer_id": customers,
        "segment": ["business" if i % 5 == 0 else "consumer" for i in range(rows)],
        "age": [20 + (i * 7) % 60 for i in range(rows)],
        "region": ["north", "south"] * (rows // 2),
    }).to_csv(folder / "customers.csv", index=False)
    questions = ["q_awareness_found", "q_purchase_csat", "q_purchase_effort", "q_loyalty_nps"]
    scores = {"q_awareness_found": 4, "q_purchase_csat": 2, "q_purchase_effort": 5, "q_loyalty_nps": 9}
    pd.DataFrame({
        "response_id": [f"S{i}" for i in range(rows)],
        "customer_id": customers,
        "answered_at": [(start + pd.Timedelta(hours=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(rows)],
        "question": [questions[i % 4] for i in range(rows)],
        "score": [scores[questions[i % 4]] for i in range(rows)],
        "comment": ["The courier arrived late, again" if i % 3 == 0 else "" for i in range(rows)],
        "channel": ["web", "app"] * (rows // 2),
    }).to_csv(out / "surveys.csv", index=False)
    with open(out / "reviews.jsonl", "w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(json.dumps({
                "review_id": f"R{i}",
                "customer_id": customers[i] if i % 4 else None,
                "published_at": (start + pd.Timedelta(hours=7 * i)).isoformat(),
                "rating": 1 + i % 5,
                "text": "Курьер опоздал на два дня" if i % 2 else "Great kettle, works well",
                "source": "site",
                "language": "ru" if i % 2 else "en",
            }, ensure_ascii=False) + "\n")
    events = ["site_visit", "product_view", "checkout_started", "order_placed", "order_delivered"]
    sales = pd.DataFrame({
        "event_id": [f"E{i}" for i in range(rows * 5)],
        "customer_id": [customers[i // 5] for i in range(rows * 5)],
        "occurred_at": pd.to_datetime([start + pd.Timedelta(minutes=37 * i) for i in range(rows * 5)], utc=True),
        "event_type": [events[i % 5] for i in range(rows * 5)],
        "channel": ["web"] * (rows * 5),
        "amount": [49.5 if events[i % 5] == "order_placed" else None for i in range(rows * 5)],
        "order_id": [f"O{i // 5}" if i % 5 >= 3 else None for i in range(rows * 5)],
    })
    half = len(sales) // 2
    for n, part in enumerate((sales.iloc[:half], sales.iloc[half:])):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), out / "sales" / f"part-{n:05d}.parquet")
    return folder


def write_config(folder: Path, data_dir: Path | str, *, sources: dict | None = None, expectations: dict | None = None,
                 storage: dict | None = None, **top) -> Path:
    """Copy configs/ into ``folder`` and point its sources at ``data_dir``; return the main file.

    ``sources`` / ``expectations`` replace those sections (merged per source); other keyword
    arguments replace top-level keys of cjm.yaml.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for f in CONFIGS.glob("*.yaml"):
        shutil.copy(f, folder / f.name)
    main = yaml.safe_load((CONFIGS / "cjm.yaml").read_text(encoding="utf-8"))
    base = str(data_dir)
    main["sources"] = {
        "surveys": {"location": f"{base}/{{period}}/surveys.csv", "format": "csv", "period_rows": "require"},
        "reviews": {"location": f"{base}/{{period}}/reviews.jsonl", "format": "jsonl", "period_rows": "require"},
        "sales": {"location": f"{base}/{{period}}/sales/*.parquet", "format": "parquet", "period_rows": "require"},
        "customers": {"location": f"{base}/customers.csv", "format": "csv"},
    }
    for name, override in (sources or {}).items():
        if override is None:
            main["sources"].pop(name, None)
        else:
            main["sources"][name] = {**main["sources"].get(name, {}), **override}
    main["storage"] = storage or {"work": str(folder / "work"), "versions": str(folder / "store"), "site": str(folder / "site")}
    main.update(top)
    (folder / "cjm.yaml").write_text(yaml.safe_dump(main, allow_unicode=True, sort_keys=False), encoding="utf-8")
    exp = {name: {"min_rows": 5} for name in ("surveys", "reviews", "sales", "customers")}
    for name, override in (expectations or {}).items():
        exp[name] = {**exp.get(name, {}), **override}
    (folder / "expectations.yaml").write_text(yaml.safe_dump(exp, sort_keys=False), encoding="utf-8")
    return folder / "cjm.yaml"


@pytest.fixture
def small_inputs(tmp_path: Path) -> Path:
    return write_small_inputs(tmp_path / "data")


@pytest.fixture
def small_config(tmp_path: Path, small_inputs: Path):
    from cjm_tasks.config import load_config

    return load_config(write_config(tmp_path / "cfg", small_inputs))


class _ConditionalPutsOneAtATime:
    """WSGI middleware for moto: a conditional PUT (If-None-Match / If-Match) is checked and
    applied without another one in between. moto checks the condition, then writes, unlocked, so
    on its threaded server two racing ``If-None-Match: *`` PUTs of one key could both succeed,
    which S3 itself never allows (and the version store relies on)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "PUT" and ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible HTTP server (moto's server mode) on 127.0.0.1, for the whole session
    (of each xdist worker: the port is the one the system gives when binding port 0)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _ConditionalPutsOneAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = Server(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Test credentials in the environment (the standard AWS chain) and the endpoint URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("CJM_S3_ENDPOINT_URL", s3_server)
    return s3_server


@pytest.fixture
def bucket(s3_env: str, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket on the local S3 server."""
    import re
    import uuid

    import boto3

    name = re.sub(r"[^a-z0-9-]+", "-", f"t-{request.node.name.lower()}")[:40].strip("-") + f"-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four generated quarters (2025Q1..2025Q4) at scale 1, shared by the pipeline tests."""
    from cjm_demo.sample_data import generate_sample_data

    out = tmp_path_factory.mktemp("sample-data")
    generate_sample_data(out, quarters=4, start="2025Q1", seed=7, scale=1.0)
    return out


def write_sample_config(folder: Path, sample_data: Path, keywords_only: bool = False) -> Path:
    """The bundled configuration (default expectations included) reading ``sample_data``, with
    its work, store and site folders inside ``folder``; returns the main file. ``keywords_only``
    turns matching by similarity off: the sample data's truth is what the catalog's keywords say,
    so checks of planted barriers and changes against it (integration checks) use that path."""
    folder.mkdir(parents=True, exist_ok=True)
    main = yaml.safe_load((CONFIGS / "cjm.yaml").read_text(encoding="utf-8"))
    for f in CONFIGS.glob("*.yaml"):
        shutil.copy(f, folder / f.name)
    for source in main["sources"].values():
        source["location"] = source["location"].replace("${CJM_SAMPLE_DATA:-../build/sample-data}", str(sample_data))
    main["storage"] = {"work": str(folder / "work"), "versions": str(folder / "store"), "site": str(folder / "site")}
    (folder / "cjm.yaml").write_text(yaml.safe_dump(main, allow_unicode=True, sort_keys=False), encoding="utf-8")
    if keywords_only:
        barriers = yaml.safe_load((folder / "barriers.yaml").read_text(encoding="utf-8"))
        barriers.setdefault("matching", {}).setdefault("similarity", {})["enabled"] = False
        (folder / "barriers.yaml").write_text(yaml.safe_dump(barriers, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder / "cjm.yaml"


@pytest.fixture(scope="session")
def sample_config(sample_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The bundled configuration reading the generated sample data."""
    from cjm_tasks.config import load_config

    return load_config(write_sample_config(tmp_path_factory.mktemp("sample-config"), sample_data))


@pytest.fixture(scope="session")
def sample_maps(sample_config) -> dict:
    """{period: {persona: map}} for every generated quarter, built through the real pipeline."""
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import build_period

    periods = Period.parse("2025Q1").range(4)
    return {str(p): build_period(sample_config, p)[0] for p in periods}


@pytest.fixture(scope="session")
def sample_keyword_config(sample_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The bundled configuration with matching by similarity off (:func:`write_sample_config`)."""
    from cjm_tasks.config import load_config

    return load_config(write_sample_config(tmp_path_factory.mktemp("sample-keyword-config"), sample_data, keywords_only=True))


@pytest.fixture(scope="session")
def sample_keyword_maps(sample_keyword_config) -> dict:
    """{period: {persona: map}} of every generated quarter, keyword path only."""
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import build_period

    return {str(p): build_period(sample_keyword_config, p)[0] for p in Period.parse("2025Q1").range(4)}


CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1400,1000"]


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver, installed with apt-get when missing (CI runs as root)."""
    import os
    import subprocess

    missing = [pkg for pkg, binary in (("chromium", "chromium"), ("chromium-driver", "chromedriver")) if not shutil.which(binary)]
    if missing:
        if os.geteuid() != 0:
            pytest.fail(f"headless browser tests need {' and '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=900, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, timeout=900, env=env, capture_output=True)
    return shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(chromium: tuple[str, str], tmp_path: Path):
    """A headless Chromium driven over the DevTools protocol (selenium), with console and network logs."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium[0]
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=chromium[1]))
    try:
        yield driver
    finally:
        driver.quit()
