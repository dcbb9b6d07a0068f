"""Webhook delivery for the local providers: one sender thread per provider, in order, with
retries and backoff, like the real providers (and without a thread per event under load)."""

from __future__ import annotations

import queue
import threading
import time

import requests


class WebhookSender:
    def __init__(self, url: str, attempts: int = 5) -> None:
        self.url = url
        self.attempts = attempts
        self._queue: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def send(self, payload: bytes, headers: dict[str, str]) -> None:
        self._queue.put((payload, headers))

    def drain(self, timeout: float = 30.0) -> bool:
        """Waits until every queued event was delivered (or given up on)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _run(self) -> None:
        while True:
            payload, headers = self._queue.get()
            try:
                for attempt in range(self.attempts):
                    try:
                        if requests.post(self.url, data=payload, headers=headers, timeout=30).status_code < 300:
                            break
                    except requests.RequestException:
                        pass
                    time.sleep(0.5 * 2**attempt)
            finally:
                self._queue.task_done()
