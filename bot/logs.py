"""Log lines for people (text) or for log pipelines (one JSON object per line), never a secret.

``PAPERBOY_LOG_FORMAT=json`` picks JSON (python-json-logger): ``time``, ``level``, ``logger``,
``message`` and, for errors, ``exc_info``. Either way the finished line goes through
:func:`redact` last, so a token cannot leak through a message, its arguments or a traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SECRETS = (
    # Slack tokens: bot, user, app-level, refresh (xoxb-, xoxp-, xapp-, xoxe-…).
    (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+"), r"\1-***"),
    # Discord bot tokens: three base64url parts.
    (re.compile(r"\b[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,40}\b"), "***discord-token***"),
    # The password of a database URL (DATABASE_URL): postgresql://user:secret@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    # key=value and "key": "value" pairs that name a secret.
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|bot_token|client_secret|signing_secret|password"
            r"|code|token)(['\"]?\s*[:=]\s*['\"]?)[^'\",&\s}]+"
        ),
        r"\1\2***",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingJsonFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return RedactingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return RedactingTextFormatter(TEXT_FORMAT)


def configure(level: str | int, log_format: str = "text", stream: TextIO | None = None) -> None:
    """One handler on the root logger, in ``log_format`` (text | json), at ``level``."""
    handler = _PaperboyHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PaperboyHandler)]:
        root.removeHandler(old)  # configured twice (tests, a second command): replace, not add
    root.addHandler(handler)
    root.setLevel(level)


class _PaperboyHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs, told apart from others (a test's capture)."""
