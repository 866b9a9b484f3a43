"""A logging filter that keeps share tokens out of every log record.

Django logs the path of each 4xx and 5xx response (``Not Found: /s/<token>/``) and waitress
the path of a failed request. A share's path holds its token, so the filter rewrites any
``/s/<token>`` in a record's message to ``/s/[token]`` before a handler formats it.
"""

from __future__ import annotations

import logging
import re

_SHARE_PATH = re.compile(r"(/s/)[^/\s?#\"']+")


class RedactShareTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SHARE_PATH.sub(r"\1[token]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
