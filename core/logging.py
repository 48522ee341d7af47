"""Structured JSON logs (one object per line) with the case and request ids when known.

Secrets never reach a log line: whatever a message, an access-log URL or a traceback holds, API keys
(`ask_…`), codec and console session tokens (`acs_…`, `acw_…`) and bearer credentials are cut down
to their prefix before the line is written (the code logs key ids, never keys; this catches what it
does not control).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

from core.settings import Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
case_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("case_id", default=None)


SECRETS = re.compile(r"\b(ask_|acs_|acw_)[A-Za-z0-9_\-]{6,}|(?i:\b(bearer|basic)\s+)[^\s\"',;]+")


def redact(line: str) -> str:
    """`ask_…`, `acs_…`, `Bearer …` for any API key, codec token or bearer credential in the line."""
    return SECRETS.sub(lambda m: (m.group(1) or m.group(2) + " ") + "…", line)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("request_id", request_id_var), ("case_id", case_id_var)):
            value = getattr(record, key, None) or var.get()
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
