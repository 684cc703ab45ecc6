"""The main file, cjm.yaml: the project, the files it names, the sources, where outputs are
stored, survey metrics, when a change is flagged, and where the summary of a refresh goes."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, field_validator, model_validator

from cjm_tasks.config.common import Better, Strict, check_scale, check_timezone
from cjm_tasks.config.sources import SourceConfig
from cjm_tasks.errors import ConfigError


def _a_location(value: Any) -> Any:
    # An empty location would resolve to the configuration's own folder: a store or site written
    # there (e.g. from ``${UNSET:-}``) is never what was meant.
    if value is None or isinstance(value, str) and not value.strip():
        raise ValueError("is empty: give a folder (relative to this file) or an s3://bucket/prefix URL")
    return value


class ProjectConfig(Strict):
    name: str = "Customer journey maps"
    language: Literal["en", "ru"] = "en"
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)


class StorageConfig(Strict):
    work: str = "../build/work"
    versions: str = "../build/store"
    site: str = "../build/site"
    # Workspaces (runs/<run id>/ in work) of successful runs kept after publish, newest first;
    # older ones are removed. A failed run's workspace is always kept, for inspection.
    keep_runs: int = Field(2, ge=0)

    @field_validator("work", "versions", "site", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        return _a_location(value)


class S3Config(Strict):
    endpoint_url: str | None = None
    region: str | None = None

    @field_validator("endpoint_url", "region", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


# Which way is better for the metrics every stage has; survey scales add their own under
# ``metrics.better`` and rates declare theirs in stages.yaml. Read through CjmConfig.better().
BUILT_IN_BETTER: dict[str, str] = {"csat": "higher", "nps": "higher", "ces": "lower", "rating": "higher", "sentiment": "higher",
                                   "emotion": "higher", "conversion_to_next": "higher", "reached_share": "higher"}


class MetricsConfig(Strict):
    """Survey metrics and their scales (review ratings take theirs from ``sources.reviews.scales``)."""

    scales: dict[str, tuple[float, float]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
    better: dict[str, Better] = {}

    @field_validator("scales")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, bounds in value.items():
            if name in ("rating", "sentiment", "emotion", "conversion_to_next", "reached_share"):
                hint = (" (review ratings: sources.reviews.scales: {rating: [low, high]})" if name == "rating" else "")
                raise ValueError(f"{name!r} is a built-in map metric, not a survey metric{hint}")
            check_scale(name, bounds)
        return value


class DiffConfig(Strict):
    """When a change between two versions is flagged (see cjm_tasks/versions/diff.py)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    min_share_change: float = Field(0.03, ge=0, le=1)
    min_relative_change: float = Field(0.25, ge=0)
    min_score_change: float = Field(0.2, ge=0)
    min_nps_change: float = Field(5.0, ge=0)
    min_touchpoint_change: float = Field(0.05, ge=0, le=1)
    # A prevalence that doubles (or halves) is material from a low base too, once it moved at
    # least ``min_share_floor`` (half a point by default): 6 -> 42 customers of 1,500 is a change.
    min_ratio: float = Field(2.0, gt=1)
    # Prevalences are shares of all active customers, far smaller than shares of texts: one point
    # (15 customers of 1,500) is material, with min_relative_change, when it is significant.
    min_prevalence_change: float = Field(0.01, ge=0, le=1)
    # Barriers and themes mentioned by fewer customers than this in the two versions together
    # are not tested: they cannot show a supported change, and leaving them out (a filter on the
    # total, independent of the test under no change) keeps the false-discovery adjustment for
    # the tests that can.
    min_tested_mentions: int = Field(8, ge=0)
    min_share_floor: float = Field(0.005, ge=0, le=1)


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


# An Airflow connection id: what Airflow accepts, without spaces or path separators.
_CONN_ID = re.compile(r"[A-Za-z0-9_.-]{1,250}")


def _a_variable_name(value: str | None) -> str | None:
    # The value is not quoted: a password or URL pasted here by mistake must not reach a log.
    if value is not None and not _ENV_NAME.fullmatch(value):
        raise ValueError("must be the name of an environment variable (A-Z, 0-9, '_', e.g. CJM_SMTP_PASSWORD), "
                         "not the secret itself")
    return value


def _a_connection_id(value: str | None) -> str | None:
    if value is not None and not _CONN_ID.fullmatch(value):
        raise ValueError("must be an Airflow connection id (letters, digits, '_', '.', '-'), not the connection's URI")
    return value


def _from_environment(file: str, key: str, name: str, holds: str, strip: bool = False) -> str:
    """The value of the environment variable ``name`` (stripped of surrounding space with
    ``strip``), which must hold ``holds``. Raises :class:`ConfigError` naming ``file``, ``key``
    and the variable when it is unset or empty; the value is never part of a message."""
    raw = os.environ.get(name)
    value = raw.strip() if strip and raw is not None else raw
    if not value:
        raise ConfigError(file, key, f"environment variable {name} is {'not set' if raw is None else 'empty'} (it must hold {holds})")
    return value


class SmtpConfig(Strict):
    # host/port/login: how the library sends (`cjm refresh`, and Airflow when no connection is
    # named); connection: the Airflow SMTP connection the provider's SmtpNotifier sends through.
    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    sender: str
    recipients: list[str] = Field(min_length=1)
    starttls: bool = True
    # Without STARTTLS the password and the summary cross the network in clear text: only when
    # the operator says so, e.g. for a relay on localhost.
    allow_plaintext: bool = False
    username_env: str | None = None  # names of environment variables, never the secrets themselves
    password_env: str | None = None
    connection: str | None = None

    variable_names = field_validator("username_env", "password_env")(_a_variable_name)
    connection_ids = field_validator("connection")(_a_connection_id)

    @model_validator(mode="after")
    def _safe(self) -> SmtpConfig:
        if self.host is None and self.connection is None:
            raise ValueError("host: give host (the library sends through it) or connection (an Airflow SMTP "
                             "connection id), or both")
        if not self.starttls and not self.allow_plaintext:
            raise ValueError("starttls: false sends the login and the summary in clear text; "
                             "set allow_plaintext: true as well to allow it (e.g. a relay on localhost)")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both username_env and password_env (to log in), or neither")
        return self

    def credentials(self, file: str) -> tuple[str, str] | None:
        """(user name, password) read from the variables ``username_env`` and ``password_env``
        name, or None when no login is configured.

        Raises :class:`ConfigError` naming ``file``, the key and the variable when one is unset
        or empty (the values are never part of a message).
        """
        if self.username_env is None or self.password_env is None:
            return None
        return (_from_environment(file, "notify.smtp.username_env", self.username_env, "the SMTP login"),
                _from_environment(file, "notify.smtp.password_env", self.password_env, "the SMTP login"))


class SlackConfig(Strict):
    """A Slack incoming webhook. Its URL is a secret: it comes from the environment variable
    ``url_env`` names (how the library sends: `cjm refresh`, and Airflow when no connection is
    named) or from the Airflow connection ``connection`` names (a Slack Incoming Webhook
    connection, the URL or its token in the password), never from this file."""

    url_env: str | None = None
    connection: str | None = None

    variable_names = field_validator("url_env")(_a_variable_name)
    connection_ids = field_validator("connection")(_a_connection_id)

    @model_validator(mode="after")
    def _somewhere(self) -> SlackConfig:
        if self.url_env is None and self.connection is None:
            raise ValueError("url_env: give url_env (an environment variable holding the webhook URL) or "
                             "connection (an Airflow connection id), or both")
        return self

    def url(self, file: str) -> str:
        """The webhook URL from the variable ``url_env`` names. Raises :class:`ConfigError` naming
        ``file``, the key and the variable when it is unset, empty or not an https URL (http only
        to this machine); the value is never part of a message."""
        from urllib.parse import urlsplit

        if self.url_env is None:
            raise ConfigError(file, "notify.slack.url_env", "is not set: sending without Airflow needs the name of the "
                                                            "environment variable that holds the webhook URL")
        value = _from_environment(file, "notify.slack.url_env", self.url_env, "the webhook URL", strip=True)
        parts = urlsplit(value)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not parts.hostname or not (parts.scheme == "https" or parts.scheme == "http" and local):
            raise ConfigError(file, "notify.slack.url_env", f"environment variable {self.url_env} must hold an https:// "
                                                            "URL (http:// only to this machine)")
        return value


class NotifyConfig(Strict):
    """Where the summary of a refresh goes besides the log: the channels listed, each configured
    in its own section (``smtp``, ``slack``)."""

    channels: list[Literal["smtp", "slack"]] = []
    site_url: str | None = None  # public address of the published site, for the link in the summary
    smtp: SmtpConfig | None = None
    slack: SlackConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_channel_key(cls, data: Any) -> Any:
        # Configurations written before the channels list had one `channel` (log or smtp).
        if isinstance(data, dict) and "channel" in data:
            old = data["channel"]
            now = {"log": "channels: [] (the log always has it)", "smtp": "channels: [smtp]"}.get(old, "channels: [smtp] or [slack]")
            raise ValueError(f"channel: replaced by 'channels', a list of the channels that send the summary besides the log: "
                             f"write {now}")
        return data

    @model_validator(mode="after")
    def _channels_have_settings(self) -> NotifyConfig:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels: lists a channel twice")
        for channel in self.channels:
            if getattr(self, channel) is None:
                needs = {"smtp": "host or connection, sender, recipients", "slack": "url_env or connection"}[channel]
                raise ValueError(f"channels: channel '{channel}' needs a {channel} section ({needs})")
        return self

    def check_environment(self, file: str) -> None:
        """Raise :class:`ConfigError` when a channel that can only send through environment
        variables (it names no Airflow connection) finds one unset or unusable."""
        if "smtp" in self.channels and self.smtp is not None and self.smtp.connection is None:
            self.smtp.credentials(file)
        if "slack" in self.channels and self.slack is not None and self.slack.connection is None:
            self.slack.url(file)


# A duration in the configuration: a number and a unit (d, h, m, s), several in a row (1d12h), or
# a number of seconds. Held as seconds.
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> float:
    """Seconds from ``10d``, ``4h``, ``30m``, ``90s``, ``1d12h`` or a number of seconds; raises
    ValueError saying what is expected otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = value.strip().lower().replace(" ", "") if isinstance(value, str) else ""
    if not _DURATION.fullmatch(text):
        raise ValueError(f"{value!r} is not a duration: expected a number and a unit, e.g. 10d, 4h, 30m, 90s or 1d12h")
    return float(sum(float(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(r"(\d+(?:\.\d+)?)([dhms])", text)))


def human_duration(seconds: float) -> str:
    """``seconds`` written as the configuration writes durations: 10d, 4h, 1d12h, 90s."""
    rest, parts = round(seconds), []
    for unit, size in _UNIT_SECONDS.items():
        if rest >= size or (unit == "s" and not parts):
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]


class WaitConfig(Strict):
    """How an Airflow run waits for a quarter's inputs (its ``wait_for_inputs`` task): it checks
    every ``poke_every`` whether every file source has its files (and its ``marker``, when the
    source declares one), holding no worker slot in between, and fails after ``timeout`` with what
    is still missing. ``cjm refresh`` never waits: it stops at once with the same list."""

    timeout: Duration = 10 * 86400.0
    poke_every: Duration = 4 * 3600.0

    @field_validator("timeout")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"{value!r} is negative: give how long to wait, e.g. 10d (0: do not wait)")
        return value

    @field_validator("poke_every")
    @classmethod
    def _at_least_a_second(cls, value: float) -> float:
        if value < 1:
            raise ValueError(f"{human_duration(value) if value >= 0 else repr(value)} is too short: check at most every second, e.g. 4h")
        return value


class FilesConfig(Strict):
    stages: str = "stages.yaml"
    personas: str = "personas.yaml"
    # One catalog, or several combined in order (e.g. a domain catalog and your own additions).
    barriers: Union[str, list[str]] = "barriers.yaml"
    expectations: str = "expectations.yaml"
    # More example sentences per catalog barrier, and neutral ones, kept apart from the catalog.
    examples: str | None = None

    @field_validator("stages", "personas", "barriers", "expectations", "examples", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not item.strip():
                raise ValueError("is empty: give a file name (relative to this file)")
        return value


class SparkConfig(Strict):
    # Any Spark master URL: local[N] (one machine, N cores), spark://host:7077, yarn, k8s://...
    master: str = "local[2]"
    # An Airflow Spark connection id (apache-airflow-providers-apache-spark's kind): its host
    # and port give the master, its extra's "conf" mapping Spark settings. Overrides master.
    connection: str | None = None
    conf: dict[str, str] = {}


class EngineConfig(Strict):
    """Where the relational work runs (reading the canonical tables, the gate's counts, persona
    tagging, every count and group-by): DuckDB embedded, or Spark when one machine is not enough."""

    kind: Literal["duckdb", "spark"] = "duckdb"
    # DuckDB's memory limit; beyond it, it spills to temp_directory. Any DuckDB size, e.g. 900MB, 4GB.
    memory_limit: str = "1GB"
    threads: int | None = Field(None, ge=1)   # default: the machine's cores
    temp_directory: str | None = None          # default: a folder in the system's temp
    spark: SparkConfig = SparkConfig()


class MainFile(Strict):
    project: ProjectConfig = ProjectConfig()
    files: FilesConfig = FilesConfig()
    sources: dict[Literal["surveys", "reviews", "sales", "customers"], SourceConfig]
    storage: StorageConfig = StorageConfig()
    s3: S3Config = S3Config()
    metrics: MetricsConfig = MetricsConfig()
    diff: DiffConfig = DiffConfig()
    notify: NotifyConfig = NotifyConfig()
    engine: EngineConfig = EngineConfig()
    wait: WaitConfig = WaitConfig()

    @field_validator("sources")
    @classmethod
    def _has_journey_data(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not set(value) & {"surveys", "reviews", "sales"}:
            raise ValueError("configure at least one of surveys, reviews, sales")
        return value
