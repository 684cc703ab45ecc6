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
