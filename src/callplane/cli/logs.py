"""Process-wide logging for `serve` and `worker`: one handler on the root logger, text or JSON.

stdlib logging with python-json-logger's formatter rather than structlog: every module already
logs through `logging.getLogger(__name__)`, and so do uvicorn, SQLAlchemy and httpx; a formatter
turns all of them into JSON at once, with no second logging API to learn or keep in step.
`engine.logcontext.ContextFilter` puts the request id and call id on every record.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from callplane.config import Settings
from callplane.engine.logcontext import ContextFilter

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _TextFormatter(logging.Formatter):
    """The plain format, plus `[request=… call=…]` when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name}={value}"
            for name, value in (
                ("request", getattr(record, "request_id", None)),
                ("call", getattr(record, "call_id", None)),
            )
            if value
        ]
        return f"{line} [{' '.join(ids)}]" if ids else line


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(call_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return _TextFormatter(_TEXT)


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
