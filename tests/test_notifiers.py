"""Notifications: the summary and the report link by e-mail and by a Slack incoming webhook, sent
by `cjm refresh` (the library's senders) and by the quarterly DAG's success and failure callbacks
(Airflow's notifier interface, through the SMTP and Slack providers' notifiers), to a real SMTP
server (aiosmtpd) and a real HTTP endpoint standing in for Slack, both on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import html
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cjm_tasks.config import load_config
from cjm_tasks.errors import ConfigError
from tests.conftest import cjm, free_port, write_config, write_small_inputs
from tests import test_dags
from tests.test_dags import run_dag

airflow_home = test_dags.airflow_home  # the fixture: an Airflow home with a migrated database
TOKEN = "T0CJM/B0CJM/notifier-secret-token-4f7d"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 (no TLS, no login); ``messages`` are the parsed e-mails received."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []

        class Handler:
            async def handle_DATA(inner, server, session, envelope):  # noqa: N805 (aiosmtpd's hook signature)
                self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        # aiosmtpd checks its server by connecting to the port it was given: a free one, not 0.
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class WebhookServer:
    """An HTTP server on 127.0.0.1 answering POSTs like a Slack incoming webhook (200 "ok", or
    ``status``); ``posts`` are (path, JSON body) of what it received."""

    def __init__(self, status: int = 200):
        self.posts: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's hook name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.path, json.loads(body)))
                answer = b"ok" if status == 200 else b"invalid_token"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{TOKEN}"

    def __enter__(self) -> WebhookServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp_server():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def webhook():
    with WebhookServer() as server:
        yield server


def _mail_text(message: email.message.EmailMessage) -> str:
    """The text of a received e-mail: its plain body, or the text of its HTML body's <pre>."""
    part = message.get_body(preferencelist=("plain", "html"))
    content = part.get_content().replace("\r\n", "\n")  # SMTP carries CRLF lines
    if part.get_content_subtype() == "html":
        found = re.search(r"<pre[^>]*>(.*?)</pre>", content, re.S)
        assert found, content
        return html.unescape(found.group(1))
    return content.rstrip("\n")


def _slack_text(body: dict) -> str:
    # What Slack shows: its three mrkdwn escapes undone.
    return body["text"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _persona_lines(config, period: str) -> list[str]:
    """The summary's persona lines as the version store tells them (each persona's diff summary)."""
    from cjm_tasks.run.pipeline import open_version_store

    store = open_version_store(config)
    personas = [p.id for p in config.personas.personas] + ["all"]
    lines = []
    for persona in personas:
        versions = [v for v in store.list(persona) if str(v.version).startswith(period)]
        if versions:
            latest = versions[-1]
            lines.append(f"- {persona} {latest.version} (new version): {store.read_diff(latest)['summary']}")
    assert lines
    return lines


# ------------------------------------------------------------------------ formats and config


def test_slack_and_email_text_show_untrusted_words_as_written():
    from cjm_tasks.run.notify import Notice, email_html, slack_text

    words = "Barrier <!channel> & <https://evil.example|click here> at purchase"
    assert slack_text(words) == "Barrier &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; at purchase"
    body = email_html(Notice(subject="s", text=f"{words}\n<script>alert(1)</script>", link="https://r.example/?a=1&b=2"))
    assert "<script>" not in body and "<!channel>" not in body
    assert html.unescape(re.search(r"<pre[^>]*>(.*?)</pre>", body, re.S).group(1)) == f"{words}\n<script>alert(1)</script>"
    assert 'href="https://r.example/?a=1&amp;b=2"' in body


def _config(tmp_path: Path, notify: dict) -> Path:
    return write_config(tmp_path / "cfg", tmp_path / "data", notify=notify)


@pytest.mark.parametrize(("notify", "key", "phrase"), [
    ({"channels": ["slack"]}, "notify.channels", "channel 'slack' needs a slack section"),
    ({"channels": ["smtp", "smtp"], "smtp": {"host": "h", "sender": "a@b.c", "recipients": ["d@e.f"]}}, "notify.channels", "twice"),
    ({"channels": ["slack"], "slack": {}}, "notify.slack.url_env", "give url_env"),
    ({"channels": ["slack"], "slack": {"url_env": "https://hooks.slack.com/services/" + TOKEN}}, "notify.slack.url_env",
     "must be the name of an environment variable"),
    ({"channels": ["slack"], "slack": {"connection": "slackwebhook://:" + TOKEN + "@"}}, "notify.slack.connection",
     "must be an Airflow connection id"),
    ({"channels": ["slack"], "slack": {"url_env": "CJM_T_UNSET_WEBHOOK"}}, "notify.slack.url_env",
     "environment variable CJM_T_UNSET_WEBHOOK is not set"),
    ({"channels": ["slack"], "slack": {"url_env": "CJM_T_PLAIN_WEBHOOK"}}, "notify.slack.url_env", "must hold an https:// URL"),
    ({"channels": ["smtp"], "smtp": {"sender": "a@b.c", "recipients": ["d@e.f"]}}, "notify.smtp.host", "give host"),
    ({"channel": "smtp"}, "notify.channel", "channels"),
])
def test_notify_config_errors_name_the_key_and_never_echo_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   notify: dict, key: str, phrase: str):
    monkeypatch.delenv("CJM_T_UNSET_WEBHOOK", raising=False)
    monkeypatch.setenv("CJM_T_PLAIN_WEBHOOK", "http://hooks.example.com/services/" + TOKEN)
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, notify))
    assert info.value.key == key and phrase in str(info.value), str(info.value)
    assert TOKEN not in str(info.value)


def test_channels_that_name_airflow_connections_need_no_variables_at_load(tmp_path: Path):
    config = load_config(_config(tmp_path, {"channels": ["smtp", "slack"], "slack": {"connection": "cjm_slack", "url_env": "CJM_T_UNSET"},
                                            "smtp": {"connection": "cjm_smtp", "sender": "a@b.c", "recipients": ["d@e.f"]}}))
    assert config.notify.channels == ["smtp", "slack"] and config.notify.slack.connection == "cjm_slack"


# ------------------------------------------------------------------------ the library's senders


def test_a_webhook_that_refuses_is_a_clear_error_without_its_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from cjm_tasks.run.notify import Notice, NotifyError, send_notice

    with WebhookServer(status=403) as refusing:
        monkeypatch.setenv("CJM_T_WEBHOOK", refusing.url)
        config = load_config(_config(tmp_path, {"channels": ["slack"], "slack": {"url_env": "CJM_T_WEBHOOK"}}))
        with pytest.raises(NotifyError) as info:
            send_notice(config, Notice(subject="s", text="t"))
    assert "HTTP 403: invalid_token" in str(info.value) and TOKEN not in str(info.value)
    assert refusing.posts == [(f"/services/{TOKEN}", {"text": "t"})]


def test_cli_refresh_sends_the_summary_by_smtp_and_by_the_slack_webhook(tmp_path: Path, smtp_server: SmtpServer, webhook: WebhookServer,
                                                                       monkeypatch: pytest.MonkeyPatch):
    write_small_inputs(tmp_path / "data", "2025Q3")
    monkeypatch.setenv("CJM_T_WEBHOOK", webhook.url)
    main = _config(tmp_path, {
        "channels": ["smtp", "slack"], "site_url": "https://reports.example.com/cjm",
        "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "starttls": False, "allow_plaintext": True,
                 "sender": "cjm@example.com", "recipients": ["cx@example.com", "pm@example.com"]},
        "slack": {"url_env": "CJM_T_WEBHOOK"}})
    result = cjm("--debug", "refresh", "--period", "2025Q3", config=main)
    assert result.returncode == 0, result.stderr[-3000:]
    config = load_config(main)

    [mail] = smtp_server.messages
    [(path, body)] = webhook.posts
    name = config.project.name
    assert mail["Subject"] == f"{name}: journey maps 2025Q3" and mail["To"] == "cx@example.com, pm@example.com"
    text = _mail_text(mail)
    assert _slack_text(body) == text and path == f"/services/{TOKEN}"
    lines = text.splitlines()
    assert lines[0] == f"{name}: customer journey maps for 2025Q3 are published."
    assert lines[1:-1] == _persona_lines(config, "2025Q3")
    assert lines[-1] == "Report: https://reports.example.com/cjm/index.html"
    assert TOKEN not in result.stdout + result.stderr  # the webhook URL is a secret, even with --debug


# ------------------------------------------------------------------------ the DAG's callbacks


def _run_dag(home: Path, config: Path, env: dict[str, str], conf: dict, logical_date: str) -> dict:
    # INFO: the notifier's lines ("notice sent by ...") are in the output, and with them any secret it would leak.
    return run_dag(home, config, "cjm_quarterly_refresh", logical_date, conf, env={"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", **env})


def test_dag_callbacks_send_the_summary_and_a_failure_names_the_step_and_the_report(
        airflow_home: Path, tmp_path: Path, smtp_server: SmtpServer, webhook: WebhookServer):
    from cjm_tasks.run.notify import recorded_notice

    data = tmp_path / "data"
    write_small_inputs(data, "2025Q3")
    write_small_inputs(data, "2025Q4")
    # Secrets come only from Airflow connections here: the channels name them, no variables.
    main = _config(tmp_path, {"channels": ["smtp", "slack"],
                              "smtp": {"connection": "cjm_smtp", "sender": "cjm@example.com", "recipients": ["cx@example.com"]},
                              "slack": {"connection": "cjm_slack"}})
    env = {"AIRFLOW_CONN_CJM_SMTP": json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_server.port,
                                               "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 10}}),
           "AIRFLOW_CONN_CJM_SLACK": json.dumps({"conn_type": "slackwebhook", "password": webhook.url})}
    config = load_config(main)

    result = _run_dag(airflow_home, main, env, {"period": "2025Q3"}, "2026-06-15T12:00:00+00:00")
    output = result["output"]
    assert result["state"] == "success", (result["tasks"], output[-3000:])
    notice = recorded_notice(config, result["run_id"])  # what the run's notify task saved
    [mail] = smtp_server.messages
    [(path, body)] = webhook.posts
    assert mail["Subject"] == f"{config.project.name}: journey maps 2025Q3" == notice.subject
    assert _mail_text(mail) == notice.text == _slack_text(body) and path == f"/services/{TOKEN}"
    lines = notice.text.splitlines()
    assert lines[1:-1] == _persona_lines(config, "2025Q3")
    assert lines[-1] == f"Report: {Path(config.storage.site) / 'index.html'}"
    assert "notice sent by smtp (Airflow connection cjm_smtp)" in output and "notice sent by slack (Airflow connection cjm_slack)" in output

    # A corrupted input: the gate fails, and the notice names the gate's task and its report.
    surveys = data / "2025Q4" / "surveys.csv"
    surveys.write_text(surveys.read_text(encoding="utf-8").replace(",q_purchase_csat,", ",q_teleport,"), encoding="utf-8")
    failed = _run_dag(airflow_home, main, env, {"period": "2025Q4"}, "2026-06-16T12:00:00+00:00")
    output += failed["output"]
    assert failed["state"] == "failed" and failed["tasks"]["validate_sources"] == "failed", failed["tasks"]
    report = Path(config.storage.work) / "validation" / "2025Q4" / "validation.html"
    assert report.is_file()
    failure_mail = smtp_server.messages[1]
    failure_text = _mail_text(failure_mail)
    assert failure_mail["Subject"] == f"{config.project.name}: refresh of 2025Q4 failed at validate_sources"
    assert _slack_text(webhook.posts[1][1]) == failure_text and len(smtp_server.messages) == len(webhook.posts) == 2
    assert "failed at step validate_sources" in failure_text
    assert f"Report: {report}" in failure_text.splitlines()
    assert TOKEN not in output


NOTIFIER_CALL = """
import json, sys
from types import SimpleNamespace
# Logging as an Airflow process sets it up (the task SDK's, secrets masker included), at DEBUG.
from airflow.sdk.log import configure_logging
configure_logging(log_level="DEBUG")
from cjm_tasks.run.airflow_notify import RefreshNotifier
args = json.loads(sys.argv[1])
context = {"run_id": "manual__1", "reason": "task_failure",
            "dag_run": SimpleNamespace(run_id="manual__1", conf={"config": args["config"], "period": "2025Q3"}, data_interval_start=None),
            "ti": SimpleNamespace(task_id="build_map", map_index=2, rendered_map_index="families", log_url=args["log_url"])}
RefreshNotifier("failure")(context)
"""


def test_a_failure_notice_names_a_mapped_step_by_its_label_and_no_log_shows_the_webhook(
        tmp_path: Path, smtp_server: SmtpServer, webhook: WebhookServer):
    # The notifier called as Airflow calls a DAG's callback, in a process of its own (as the DAG
    # processor is), with the context such a process builds: the run, and the task instance that
    # failed it. At DEBUG, where the Slack provider logs the URL it posted to.
    write_small_inputs(tmp_path / "data", "2025Q3")
    main = _config(tmp_path, {"channels": ["smtp", "slack"], "slack": {"connection": "cjm_slack"},
                              "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "starttls": False, "allow_plaintext": True,
                                       "sender": "cjm@example.com", "recipients": ["cx@example.com"]}})
    log_url = "http://localhost:8080/dags/cjm_quarterly_refresh/runs/manual__1/tasks/build_map/mapped/2?try_number=1"
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
           "AIRFLOW_CONN_CJM_SLACK": json.dumps({"conn_type": "slackwebhook", "password": webhook.url})}
    result = subprocess.run([sys.executable, "-c", NOTIFIER_CALL, json.dumps({"config": str(main), "log_url": log_url})],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]

    [mail] = smtp_server.messages  # no connection named: the library's sender
    [(_, body)] = webhook.posts    # a connection named: the provider's SlackWebhookNotifier
    text = _mail_text(mail)
    assert _slack_text(body) == text
    assert "failed at step build_map [families] (run manual__1)" in text and f"Report: {log_url}" in text.splitlines()
    assert "Slack webhook notification sent" in result.stdout and TOKEN not in result.stdout
