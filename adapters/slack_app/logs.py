"""The logger slack_sdk and Bolt's OAuth flow write through, with secrets blanked out.

slack_sdk logs whole requests and responses at DEBUG through the logger it is given, including
the OAuth exchange that carries a new bot token. The filter is installed by
:func:`redacting_logger` (called when the app is built), never on import.
"""

from __future__ import annotations

import logging
import re

SDK_LOGGER = "adapters.slack_app"


class RedactSecrets(logging.Filter):
    """Blanks out tokens, secrets and OAuth codes in a record's final text."""

    _PATTERNS = (
        (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+"), r"\1-***"),
        (
            re.compile(
                r"(?i)\b(access_token|refresh_token|bot_token|client_secret|code|token)"
                r"(['\"]?\s*[:=]\s*['\"]?)[^'\",&\s}]+"
            ),
            r"\1\2***",
        ),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for pattern, replacement in self._PATTERNS:
            text = pattern.sub(replacement, text)
        record.msg, record.args = text, None
        return True


def redacting_logger() -> logging.Logger:
    """The logger to hand to slack_sdk and Bolt, with :class:`RedactSecrets` on it (once)."""
    logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
        logger.addFilter(RedactSecrets())
    return logger
