"""What a log line is about: the API request, and the call a worker is running.

Both are context variables, so they follow a request into the thread pool that runs its handler
(anyio copies the context) and a call into its own asyncio task (a task copies the context it is
created in). `ContextFilter` copies them onto every log record, where the text and JSON formats
pick them up (cli/logs.py).
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

#: The current API request's id (`X-Request-ID`), or the id of the request that created the call
#: a worker is running.
request_id: ContextVar[str | None] = ContextVar("callplane_request_id", default=None)
#: The call a worker task is running.
call_id: ContextVar[str | None] = ContextVar("callplane_call_id", default=None)

#: A client's `X-Request-ID` is kept when it is at most this long and made of these characters
#: (it goes into log lines and a response header: no spaces, quotes or control characters);
#: otherwise a fresh id replaces it.
MAX_REQUEST_ID = 128
_SAFE_ID = re.compile(rf"[A-Za-z0-9._:+/=@-]{{1,{MAX_REQUEST_ID}}}")


def accept_request_id(given: str | None) -> str:
    """The client's request id when it is safe to log and echo, else a new one."""
    if given is not None and _SAFE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Adds `request_id` and `call_id` (None when unknown) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not hasattr(record, "call_id"):
            record.call_id = call_id.get()
        return True
