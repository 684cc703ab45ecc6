"""Tell people a refresh is done: what changed and where the report is.

The default channel writes the summary to the log (the Airflow task log); ``notify.channel:
smtp`` e-mails it. SMTP credentials are read from the environment variables the configuration
names (``username_env``, ``password_env``), never from the configuration itself, and never logged;
an unset variable is a :class:`~cjm_tasks.errors.ConfigError` naming the key and the variable.
The configuration refuses ``starttls: false`` unless ``allow_plaintext: true`` says so.
"""

from __future__ import annotations

import logging
from typing import Any

from cjm_tasks.config import CjmConfig
from cjm_tasks.config.common import display_path
from cjm_tasks.errors import CjmError

log = logging.getLogger(__name__)


class NotifyError(CjmError):
    """The summary could not be e-mailed: the server refused the connection, TLS or the login."""

    exit_code = 1


def summary_text(config: CjmConfig, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """Plain-text summary: one line per persona with its diff summary, then the report link."""
    from cjm_tasks.run.pipeline import open_version_store

    store = open_version_store(config)
    lines = [f"{config.project.name}: customer journey maps for {period} are published."]
    for item in stored:
        diff = store.read_diff(store.resolve(item["persona"], item["version"]))
        state = "new version" if item.get("created") else "unchanged"
        lines.append(f"- {item['persona']} {item['version']} ({state}): {diff['summary']}")
    link = f"{config.notify.site_url.rstrip('/')}/index.html" if config.notify.site_url else published.get("url")
    lines.append(f"Report: {link}")
    return "\n".join(lines)


def send_summary(config: CjmConfig, period: str, stored: list[dict[str, Any]], published: dict[str, Any]) -> str:
    """Send the summary on the configured channel; return the text sent."""
    text = summary_text(config, period, stored, published)
    if config.notify.channel == "smtp":
        _send_mail(config, f"{config.project.name}: journey maps {period}", text)
    log.info("%s", text)
    return text


def _send_mail(config: CjmConfig, subject: str, text: str) -> None:
    import smtplib
    from email.message import EmailMessage

    smtp = config.notify.smtp
    assert smtp is not None
    # Read before connecting: a variable unset on this worker fails with its name, not a KeyError.
    login = smtp.credentials(display_path(config.path))
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, smtp.sender, ", ".join(smtp.recipients)
    message.set_content(text)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
            if smtp.starttls:
                client.starttls()
            if login is not None:
                client.login(*login)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        # The server's reply or the socket error; the login is never part of either.
        raise NotifyError(f"notify.smtp: cannot send the summary via {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from None
    log.info("summary e-mailed to %d recipient(s) via %s", len(smtp.recipients), smtp.host)
