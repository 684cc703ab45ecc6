"""Tell people what a refresh did: the summary of flagged changes and where the report is, or
which step failed and where to look.

A :class:`Notice` is the message, in plain text; each channel escapes it for its own format
(HTML for e-mail, Slack's mrkdwn for Slack), because barrier titles and diff summaries can
carry words from survey and review texts. The summary always goes to the log; ``notify.channels``
adds e-mail (``smtp``) and a Slack incoming webhook (``slack``).

Two ways out, one message:

- ``cjm refresh`` sends with :func:`send_notice` (smtplib and an HTTPS POST), secrets from the
  environment variables the configuration names (``username_env``, ``password_env``, ``url_env``);
- the Airflow DAG's ``notify`` task records the notice in the work storage
  (:func:`record_summary`), and the DAG's success and failure callbacks
  (:mod:`cjm_tasks.run.airflow_notify`) send it, through the Airflow providers' notifiers when a
  channel names an Airflow connection, else with :func:`send_notice` too.

An unset variable is a :class:`~cjm_tasks.errors.ConfigError` naming the key and the variable;
secrets are never logged (a webhook URL is added to :func:`cjm_tasks.logs.add_secrets` before
use). The configuration refuses ``starttls: false`` unless ``allow_plaintext: true`` says so.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from cjm_tasks.config import CjmConfig
from cjm_tasks.config.common import display_path
from cjm_tasks.errors import CjmError, ConfigError
from cjm_tasks.logs import add_secrets

log = logging.getLogger(__name__)

NOTICES = "notices"
TIMEOUT = 30


class NotifyError(CjmError):
    """A notice could not be sent: the server refused the connection, TLS, the login or the message."""

    exit_code = 1


@dataclass(frozen=True)
class Notice:
    """One message about one run: ``subject`` (a line), ``text`` (plain text, lines) and the
    ``link`` to look at (the report, or where the failure is shown)."""

    subject: str
    text: str
    link: str | None = None
    failed: bool = False


def summary_text(config: CjmConfig, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """Plain-text summary: one line per persona with its diff summary, then the report link."""
    from cjm_tasks.run.pipeline import open_version_store

    store = open_version_store(config)
    lines = [f"{config.project.name}: customer journey maps for {period} are published."]
    for item in stored:
        diff = store.read_diff(store.resolve(item["persona"], item["version"]))
        state = "new version" if item.get("created") else "unchanged"
        lines.append(f"- {item['persona']} {item['version']} ({state}): {diff['summary']}")
    lines.append(f"Report: {site_link(config, published)}")
    return "\n".join(lines)


def site_link(config: CjmConfig, published: dict[str, Any] | None = None) -> str:
    """The published site's index: under ``notify.site_url`` when set, else where it was published."""
    if config.notify.site_url:
        return f"{config.notify.site_url.rstrip('/')}/index.html"
    if published and published.get("url"):
        return str(published["url"])
    from cjm_tasks.storage import open_storage

    return open_storage(config.storage.site, config.s3).url("index.html")


def success_notice(config: CjmConfig, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> Notice:
    """The notice of a refresh that stored and published ``period``."""
    return Notice(subject=f"{config.project.name}: journey maps {period}", text=summary_text(config, period, stored, published),
                  link=site_link(config, published))


def unchanged_notice(config: CjmConfig, period: str | None) -> Notice:
    """The notice of a refresh that found the quarter unchanged since its stored versions."""
    what = period or "the quarter"
    link = site_link(config)
    return Notice(subject=f"{config.project.name}: journey maps {what} unchanged",
                  text=f"{config.project.name}: {what} is unchanged since its stored versions; nothing was built, "
                       f"stored or published.\nReport: {link}", link=link)


def failure_notice(config: CjmConfig, period: str | None, run_id: str, step: str, report: str | None) -> Notice:
    """The notice of a run that failed at ``step``: ``report`` is where to look (the validation
    report when the gate failed, else the step's log)."""
    what = period or "the quarter"
    lines = [f"{config.project.name}: the refresh of {what} failed at step {step} (run {run_id}).",
             "Nothing after that step was stored or published."]
    if report:
        lines.append(f"Report: {report}")
    return Notice(subject=f"{config.project.name}: refresh of {what} failed at {step}", text="\n".join(lines), link=report,
                  failed=True)


def validation_report(config: CjmConfig, period: str) -> str | None:
    """Where the validation gate's report of ``period`` is (its HTML page in the work storage),
    or None when the gate saved none."""
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import validation_prefix
    from cjm_tasks.storage import open_storage

    work = open_storage(config.storage.work, config.s3)
    key = f"{validation_prefix(Period.parse(period))}/validation.html"
    return work.url(key) if work.exists(key) else None


def _notice_key(run_id: str) -> str:
    from cjm_tasks.storage import key_part

    return f"{NOTICES}/{key_part(run_id)}.json"


def record_summary(config: CjmConfig, run_id: str, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """The Airflow ``notify`` task: log the summary and save the notice where the run's success
    callback finds it (``notices/<run id>.json`` in the work storage; the callback may run in
    another process, which reads no XCom); returns the summary text."""
    from cjm_tasks.storage import open_storage

    notice = success_notice(config, period, stored, published)
    open_storage(config.storage.work, config.s3).write_bytes(_notice_key(run_id), json.dumps(asdict(notice)).encode("utf-8"),
                                                             content_type="application/json")
    log.info("%s", notice.text)
    return notice.text


def drop_notices(config: CjmConfig, keep: str) -> list[str]:
    """Remove the saved notices of runs that no longer have a workspace, but the notice of run
    folder ``keep`` (the cleaning run's: its success callback runs after it); returns the removed
    keys. A notice lives as long as its run's workspace, so ``storage.keep_runs`` bounds both."""
    from cjm_tasks.run.workspace import SNAPSHOT
    from cjm_tasks.storage import open_storage

    work = open_storage(config.storage.work, config.s3)
    # A workspace is there while its snapshot is (written first, removed with the rest): one
    # look per notice, not a listing of every workspace's files.
    stale = [key for key in work.list(f"{NOTICES}/") if key.endswith(".json")
             and (run := key[len(NOTICES) + 1:-5]) != keep and not work.exists(f"runs/{run}/{SNAPSHOT}")]
    work.delete(stale)
    return stale


def recorded_notice(config: CjmConfig, run_id: str) -> Notice | None:
    """The notice the ``notify`` task of run ``run_id`` saved, or None (the run skipped it: the
    quarter was unchanged)."""
    from cjm_tasks.storage import open_storage

    work = open_storage(config.storage.work, config.s3)
    key = _notice_key(run_id)
    if not work.exists(key):
        return None
    return Notice(**json.loads(work.read_bytes(key)))


def send_summary(config: CjmConfig, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """Log the summary of a refresh and send it on every configured channel; return the text."""
    notice = success_notice(config, period, stored, published)
    log.info("%s", notice.text)
    send_notice(config, notice)
    return notice.text


def send_notice(config: CjmConfig, notice: Notice, channels: list[str] | None = None) -> list[str]:
    """Send ``notice`` on ``channels`` (default: every configured one) with the library's own
    senders (no Airflow); return the channels it went to.

    Raises :class:`~cjm_tasks.errors.ConfigError` when a secret's variable is unset (before
    connecting) and :class:`NotifyError` when a channel cannot deliver; the channels before it
    have sent.
    """
    file = display_path(config.path)
    sent = []
    for channel in config.notify.channels if channels is None else channels:
        if channel == "smtp":
            _send_mail(config, notice)
        elif channel == "slack":
            assert config.notify.slack is not None
            post_slack(config.notify.slack.url(file), notice)
        sent.append(channel)
    return sent


def email_html(notice: Notice) -> str:
    """``notice`` as the HTML body of an e-mail, every character of its text escaped."""
    link = f'<p><a href="{html.escape(notice.link, quote=True)}">Open the report</a></p>' if notice.link else ""
    return (f"<html><body><pre style=\"font-family: inherit; white-space: pre-wrap\">{html.escape(notice.text, quote=False)}</pre>"
            f"{link}</body></html>")


def slack_text(text: str) -> str:
    """``text`` as Slack mrkdwn that shows it as written: ``&``, ``<`` and ``>`` escaped, so no
    text can make a link or a mention (``<!channel>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post_slack(url: str, notice: Notice) -> None:
    """POST ``notice`` to the Slack incoming webhook ``url``. Raises :class:`NotifyError` (without
    the URL, which is a secret) when it is not accepted."""
    import urllib.error
    import urllib.request

    add_secrets([url])
    body = json.dumps({"text": slack_text(notice.text)}).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # the scheme is checked by SlackConfig.url
            status = response.status
    except urllib.error.HTTPError as exc:
        answer = exc.read(300).decode("utf-8", "replace")
        raise NotifyError(f"notify.slack: the webhook refused the message: HTTP {exc.code}: {answer}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise NotifyError(f"notify.slack: cannot reach the webhook: {type(reason).__name__}: {reason}") from None
    log.info("notice posted to the Slack webhook (HTTP %d)", status)


def _send_mail(config: CjmConfig, notice: Notice) -> None:
    import smtplib
    from email.message import EmailMessage

    smtp = config.notify.smtp
    assert smtp is not None
    file = display_path(config.path)
    if smtp.host is None:
        raise ConfigError(file, "notify.smtp.host", "is not set: sending without Airflow needs the SMTP server's host "
                                                    "(connection is an Airflow connection)")
    # Read before connecting: a variable unset on this worker fails with its name, not a KeyError.
    login = smtp.credentials(file)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = notice.subject, smtp.sender, ", ".join(smtp.recipients)
    message.set_content(notice.text)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT) as client:
            if smtp.starttls:
                client.starttls()
            if login is not None:
                client.login(*login)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        # The server's reply or the socket error; the login is never part of either.
        raise NotifyError(f"notify.smtp: cannot send the summary via {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from None
    log.info("notice e-mailed to %d recipient(s) via %s", len(smtp.recipients), smtp.host)
