"""
### Quarterly customer journey map refresh

Runs at 06:00 UTC on the first day of every quarter; the run's data interval is the quarter that
just ended, and that quarter is refreshed. Triggered by hand, the run takes the quarter from the
`period` param (e.g. `2025Q3`).

1. **read_source** (one task per source, in parallel): read surveys, reviews, sales and customers
   for the quarter into the run's workspace.
2. **validate_sources** — the gate: Great Expectations checks on every source. A failure fails the
   run with the list of failed checks (no retries); nothing is built, stored or published.
3. **prepare_personas**: assign customers to personas and tag every row once.
4. **build_map** (one mapped task per persona, named by the persona id): the persona's journey map.
5. **store_versions**: store every map as an immutable version with its diff (one task: the
   diffs of all personas share one false-discovery adjustment).
6. **render_site** → **publish_site** (last; updates the `cjm_published_site` asset) → **notify**.

Tasks pass workspace keys, never data; mapped results are read with a slice (`keys[:]`), one
request, rather than iterated (iteration probes one XCom past the end and logs an error). Each task calls the `cjm_tasks.run.steps` function of the same
name; reruns are idempotent. Configuration: `CJM_CONFIG` (default `configs/cjm.yaml`), or the
`config` param. Schedule start and catch-up: `CJM_START_DATE` (default 2025-01-01) and
`CJM_CATCHUP` (default false).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from dateutil.relativedelta import relativedelta

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

SITE = Asset(name="cjm_published_site", uri="cjm://published-site")
QUARTERLY = CronTriggerTimetable("0 6 1 1,4,7,10 *", timezone="UTC", interval=relativedelta(months=3))
STORAGE_RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": 2.0,
                   "max_retry_delay": timedelta(minutes=10)}
PERIOD_PATTERN = r"^[0-9]{4}Q[1-4]$"


def _start_date() -> datetime:
    return datetime.fromisoformat(os.environ.get("CJM_START_DATE", "2025-01-01")).replace(tzinfo=timezone.utc)


def _steps():
    """The cjm_tasks steps, after exporting S3 credentials from an Airflow connection when
    CJM_AWS_CONN_ID names one (otherwise the standard AWS chain applies). Runs inside tasks only."""
    conn_id = os.environ.get("CJM_AWS_CONN_ID")
    if conn_id:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        os.environ["AWS_ACCESS_KEY_ID"] = conn.login or ""
        os.environ["AWS_SECRET_ACCESS_KEY"] = conn.password or ""
        endpoint = conn.extra_dejson.get("endpoint_url")
        if endpoint:
            os.environ["CJM_S3_ENDPOINT_URL"] = endpoint
    from cjm_tasks.run import steps

    return steps


@dag(
    dag_id="cjm_quarterly_refresh",
    schedule=QUARTERLY,
    start_date=_start_date(),
    catchup=os.environ.get("CJM_CATCHUP", "false").lower() in ("1", "true", "yes"),
    max_active_runs=1,
    tags=["cjm", "quarterly", "reports"],
    doc_md=__doc__,
    default_args={"owner": "cx-analytics", "retries": 0},
    params={
        "period": Param(None, type=["null", "string"], pattern=PERIOD_PATTERN,
                        description="Quarter to refresh when triggered by hand, e.g. 2025Q3 (scheduled runs use their data interval)."),
        "config": Param(None, type=["null", "string"], description="Main config file (default: CJM_CONFIG or configs/cjm.yaml)."),
    },
)
def cjm_quarterly_refresh():
    @task
    def resolve_period(data_interval_start=None, params=None) -> str:
        steps = _steps()

        start = data_interval_start.isoformat() if data_interval_start else None
        return steps.resolve_period(start, (params or {}).get("period"))

    @task
    def list_sources(period: str, params=None) -> list[str]:
        steps = _steps()

        return steps.list_sources((params or {}).get("config"), period)

    @task(map_index_template="{{ source }}", **STORAGE_RETRIES)
    def read_source(source: str, period: str, run_id=None, params=None) -> str:
        from airflow.sdk import get_current_context

        steps = _steps()

        get_current_context()["source"] = source
        return steps.read_source((params or {}).get("config"), period, run_id, source)

    @task(retries=0)
    def validate_sources(period: str, source_keys: list[str], run_id=None, params=None) -> dict:
        steps = _steps()

        return steps.validate_sources((params or {}).get("config"), period, run_id, source_keys[:])

    @task(**STORAGE_RETRIES)
    def prepare_personas(period: str, source_keys: list[str], gate: dict, run_id=None, params=None) -> list[str]:
        steps = _steps()

        return steps.prepare_personas((params or {}).get("config"), period, run_id, source_keys[:])

    @task(map_index_template="{{ persona }}", **STORAGE_RETRIES)
    def build_map(persona: str, period: str, run_id=None, params=None) -> str:
        from airflow.sdk import get_current_context

        steps = _steps()

        get_current_context()["persona"] = persona
        return steps.build_map((params or {}).get("config"), period, run_id, persona)

    @task(**STORAGE_RETRIES)
    def store_versions(map_keys: list[str], run_id=None, params=None) -> list[dict]:
        steps = _steps()

        return steps.store_versions((params or {}).get("config"), run_id, map_keys[:])

    @task(**STORAGE_RETRIES)
    def render_site(stored: list[dict], run_id=None, params=None) -> str:
        steps = _steps()

        return steps.render_site((params or {}).get("config"), run_id, stored[:])

    @task(outlets=[SITE], **STORAGE_RETRIES)
    def publish_site(rendered_key: str, run_id=None, params=None) -> dict:
        steps = _steps()

        return steps.publish_site((params or {}).get("config"), run_id, rendered_key)

    @task
    def notify(period: str, stored: list[dict], published: dict, params=None) -> str:
        steps = _steps()

        return steps.notify((params or {}).get("config"), period, stored[:], published)

    period = resolve_period()
    source_keys = read_source.partial(period=period).expand(source=list_sources(period))
    gate = validate_sources(period, source_keys)
    personas = prepare_personas(period, source_keys, gate)
    maps = build_map.partial(period=period).expand(persona=personas)
    stored = store_versions(maps)
    published = publish_site(render_site(stored))
    notify(period, stored, published)


cjm_quarterly_refresh()
