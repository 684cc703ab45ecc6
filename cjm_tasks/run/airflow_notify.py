"""The quarterly refresh DAG's notifications, through Airflow's notifier interface.

``RefreshNotifier("success")`` and ``RefreshNotifier("failure")`` are the DAG's
``on_success_callback`` and ``on_failure_callback``. Only Airflow loads this module: the DAG file
imports it at parse time, so it imports nothing but Airflow's ``BaseNotifier`` there; the
configuration, the notice and the providers are imported when a notifier is called.

Airflow runs a DAG's callbacks when the run ends: the DAG processor does in production, and
``dag.test()`` does in its own process. Neither reads XCom the same way (``dag.test()`` has no
task supervisor), so the notifier takes only what every callback context has: the run (its id,
conf and data interval) and the task instance that ended it. From these it loads the
configuration (the ``config`` param, else ``CJM_CONFIG``), works out the quarter, and builds the
notice (:mod:`cjm_tasks.run.notify`):

- success: the summary the run's ``notify`` task saved (a run the unchanged check stopped saved
  none: the notice says the quarter is unchanged) with the site link;
- failure: the failed step (task id, and the persona or source of a mapped task) and the report:
  the validation report when the gate failed, else the failed task's log in the Airflow UI.

Then it sends the notice on every channel of ``notify.channels``: through the provider's
``SmtpNotifier`` / ``SlackWebhookNotifier`` when the channel names an Airflow ``connection``, else
with the library's senders (secrets from environment variables), as ``cjm refresh`` does. The
providers' notifiers are called with their text ready (their ``notify``, not their templating
``__call__``), so text from surveys and reviews is never rendered as a Jinja template.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig
    from cjm_tasks.run.notify import Notice

log = logging.getLogger(__name__)

OUTCOMES = ("success", "failure")


class RefreshNotifier(BaseNotifier):
    """Send the notice of a finished ``cjm_quarterly_refresh`` run (see the module's description).

    ``outcome`` is ``"success"`` (for ``on_success_callback``) or ``"failure"`` (for
    ``on_failure_callback``). Calling it raises when a channel could not deliver, after trying
    every channel (Airflow logs the error; the run's state does not change)."""

    template_fields = ()

    def __init__(self, outcome: str):
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        super().__init__()
        self.outcome = outcome

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing to render: the notice is built from files, and no text of it may be a template.
        # Returning early also spares dag.test(), whose callback context holds a SerializedDAG
        # without get_template_env (apache/airflow#64649: every BaseNotifier fails there).
        return None

    def notify(self, context: Any) -> None:
        from cjm_tasks.logs import redact_logs

        redact_logs()
        config, notice = notice_of_run(self.outcome, context)
        log.info("%s", notice.text)
        deliver(config, notice, context)


def notice_of_run(outcome: str, context: Any) -> tuple[CjmConfig, Notice]:
    """The configuration and the notice of the run a callback ``context`` describes."""
    from cjm_tasks.config import load_config
    from cjm_tasks.errors import CjmError
    from cjm_tasks.run import notify
    from cjm_tasks.run.steps import resolve_period

    dag_run = context.get("dag_run")
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", "") or "?")
    conf = dict(getattr(dag_run, "conf", None) or {})
    params = dict(context.get("params") or {})
    config = load_config(conf.get("config") or params.get("config") or None)
    start = getattr(dag_run, "data_interval_start", None)
    try:
        period: str | None = resolve_period(start.isoformat() if start else None, conf.get("period") or params.get("period"))
    except CjmError:
        period = None  # the run failed on its period; the notice says "the quarter"
    if outcome == "success":
        return config, notify.recorded_notice(config, run_id) or notify.unchanged_notice(config, period)
    ti = context.get("ti")
    if ti is None:
        return config, notify.failure_notice(config, period, run_id, f"(none recorded: {context.get('reason', 'failed')})", None)
    step = ti.task_id
    map_index = getattr(ti, "map_index", None)
    label = getattr(ti, "rendered_map_index", None) or (str(map_index) if map_index is not None and map_index >= 0 else None)
    if label:
        step = f"{step} [{label}]"
    return config, notify.failure_notice(config, period, run_id, step, _report(config, period, ti))


def _report(config: CjmConfig, period: str | None, ti: Any) -> str | None:
    """The validation report when the gate failed and saved one, else the task's log in the UI."""
    from cjm_tasks.run.notify import validation_report

    report = validation_report(config, period) if ti.task_id == "validate_sources" and period else None
    if report:
        return report
    try:
        return ti.log_url
    except Exception:  # a context whose task instance cannot build its URL: the notice still goes
        return None


def deliver(config: CjmConfig, notice: Notice, context: Any) -> list[str]:
    """Send ``notice`` on every configured channel; return those it went to. Raises
    :class:`~cjm_tasks.run.notify.NotifyError` naming the channels that failed, after trying all."""
    from cjm_tasks.run.notify import NotifyError, send_notice

    sent, failed = [], []
    for channel in config.notify.channels:
        settings = getattr(config.notify, channel)
        try:
            if settings.connection:
                _PROVIDERS[channel](settings, notice, context)
            else:
                _mask_variables(config, channel)
                send_notice(config, notice, [channel])
        except Exception as exc:  # one channel down must not keep the others silent
            log.error("notify.%s: the notice was not sent: %s: %s", channel, type(exc).__name__, exc)
            failed.append(channel)
            continue
        log.info("notice sent by %s%s", channel, f" (Airflow connection {settings.connection})" if settings.connection else "")
        sent.append(channel)
    if failed:
        raise NotifyError(f"the notice could not be sent by {', '.join(failed)} (see the log above)")
    return sent


def _mask_variables(config: CjmConfig, channel: str) -> None:
    """Mask the secrets a channel without a connection reads from the environment (the webhook
    URL, the SMTP password) in Airflow's logs too (the library's are masked as it reads them)."""
    from airflow.sdk.log import mask_secret

    from cjm_tasks.config.common import display_path

    file = display_path(config.path)
    if channel == "slack":
        mask_secret(config.notify.slack.url(file))
    elif channel == "smtp" and (login := config.notify.smtp.credentials(file)) is not None:
        mask_secret(login[1])


def _mask_connection(conn_id: str) -> None:
    """Mask the connection's password (a webhook token or URL, an SMTP password) in every log,
    Airflow's and the library's (Airflow masks a connection's password as it reads it too)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    from cjm_tasks.logs import add_secrets

    conn = BaseHook.get_connection(conn_id)
    secrets = [value for value in (conn.password, conn.password and conn.password.strip()) if value]
    for secret in secrets:
        mask_secret(secret)
    add_secrets(secrets)


def _send_by_smtp_provider(settings: Any, notice: Notice, context: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from cjm_tasks.run.notify import email_html

    _mask_connection(settings.connection)
    SmtpNotifier(to=list(settings.recipients), from_email=settings.sender, subject=notice.subject,
                 html_content=email_html(notice), smtp_conn_id=settings.connection).notify(context)


def _send_by_slack_provider(settings: Any, notice: Notice, context: Any) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    from cjm_tasks.run.notify import slack_text

    _mask_connection(settings.connection)
    SlackWebhookNotifier(slack_webhook_conn_id=settings.connection, text=slack_text(notice.text)).notify(context)


_PROVIDERS = {"smtp": _send_by_smtp_provider, "slack": _send_by_slack_provider}
