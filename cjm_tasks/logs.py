"""Logging that never shows a credential.

With ``--debug`` (or an Airflow task's DEBUG level), botocore logs every request it signs: the
``Authorization`` header (the access key id in its ``Credential=``), the session token header,
the canonical request and, for presigned URLs, ``X-Amz-Credential`` / ``X-Amz-Signature``.
:func:`redact_logs` puts a :class:`RedactingFilter` on the root logger's handlers (where every
library's records end up), which masks those values and every known secret value in a record's
message and traceback before any handler writes it.

Known secret values: the environment variables named like secrets (``AWS_SECRET_ACCESS_KEY``,
``AWS_ACCESS_KEY_ID``, ``AWS_SESSION_TOKEN``, ``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``, ...) when
the filter is made, plus whatever is added with :func:`add_secrets` (credentials an orchestrator
hands in).

What a run says at INFO (rows read, the gate's result, maps built, versions stored, pages
published, the summary) is for the analyst; the libraries it uses would drown it at INFO, so
:func:`quiet_libraries` keeps them at WARNING (the CLI without ``--debug``, every Airflow task).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

MASK = "***"
# Values shorter than this are not masked by value: "1" or "true" would mask half a log.
MIN_SECRET_LENGTH = 6
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|API_KEY|FERNET", re.IGNORECASE)

# Header values and query parameters that carry a credential, wherever a library prints them:
# `'Authorization': b'AWS4-HMAC-SHA256 Credential=...'`, `x-amz-security-token:...` (a canonical
# request), `X-Amz-Credential=...&X-Amz-Signature=...` (a presigned URL).
_PATTERNS = [
    re.compile(r"""(?i)((?:authorization|x-amz-security-token|proxy-authorization)['"]?\s*[:=]\s*b?['"]?)([^'"\r\n,}]+(?:,\s*(?:SignedHeaders|Signature)=[^'"\r\n,}]+)*)"""),
    re.compile(r"(?i)((?:x-amz-credential|x-amz-signature|x-amz-security-token|awsaccesskeyid|signature)=)([^&\s'\"]+)"),
    re.compile(r"(?i)((?<![\w-])credential=)([^,&\s'\"]+)"),
]

_extra: set[str] = set()

# Libraries whose INFO lines are about themselves (GX's data context, botocore's credential lookup,
# py4j's gateway, pymorphy3's dictionaries, each HTTP request), not about the refresh.
QUIET_LOGGERS = ("great_expectations", "botocore", "boto3", "urllib3", "s3transfer", "py4j", "pyspark", "alembic",
                 "sqlalchemy", "psycopg", "openpyxl", "pymorphy3", "httpx", "httpcore", "fsspec", "filelock", "asyncio")


def secret_values(environ: dict[str, str] | None = None) -> set[str]:
    """The values of the variables in ``environ`` (default: this process's environment) whose
    names say they hold a secret, plus those added with :func:`add_secrets`."""
    environ = os.environ if environ is None else environ
    found = {value for name, value in environ.items() if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH}
    return found | _extra


def add_secrets(values: Iterable[str | None]) -> None:
    """Mask these values too, from now on, in every redacting filter (e.g. credentials read from
    an Airflow connection)."""
    _extra.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credential headers and parameters and every one of ``secrets`` masked."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and traceback (see the module's description)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: left to the handler to report
            return True
        record.msg, record.args = redact(message, secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (default: the root logger),
    once; call it after the handlers are set up (``logging.basicConfig``, Airflow's task logging)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def quiet_libraries(level: int = logging.WARNING) -> None:
    """Set the loggers of :data:`QUIET_LOGGERS` to ``level``, unless the root logger is at DEBUG
    (whoever debugs sees everything) or a logger was given a level already (a deployment's own
    logging configuration wins)."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
