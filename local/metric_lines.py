"""The local stack's log without the functions' metric lines, unless asked for (``--metrics``).

Every request that counts a business metric prints a CloudWatch embedded-metric-format line
(``{"_aws": ...}``, payments.metrics): CloudWatch reads them in AWS, and locally they bury the request
log. The functions run in this process, so the stack filters its own standard output: whole lines that
begin as an EMF document are dropped, every other line passes whole."""

from __future__ import annotations

import threading
from typing import Any, TextIO

MARK = '{"_aws":'


class WithoutMetricLines:
    """A text stream that passes everything to ``stream`` but the lines starting with ``MARK``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # print() writes a line and its newline in two calls, and threads interleave: each thread
        # holds its own line until it ends, then it is written whole or dropped whole.
        self._held = threading.local()

    def write(self, text: str) -> int:
        lines = (getattr(self._held, "text", "") + text).split("\n")
        self._held.text = lines.pop()  # the start of this thread's next line
        kept = "".join(f"{line}\n" for line in lines if not line.startswith(MARK))
        if kept:
            self._stream.write(kept)  # whole lines, in one write: threads do not cut each other's
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
