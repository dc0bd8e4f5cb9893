"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies each request with
the `standardwebhooks` library and keeps what it accepted, in arrival order."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    secret: str = ""
    """What it verifies with; a test may change it while the receiver runs."""
    url: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    fail_first: int = 0
    failed_answers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def wait_for(self, count: int, *, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.accepted) < count:
            if loop.time() > deadline:
                raise AssertionError(
                    f"{len(self.accepted)} of {count} events arrived: {self.rejected}"
                )
            await asyncio.sleep(0.1)


@contextmanager
def receiving(secret: str, *, fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret, fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                if receiver.failed_answers < receiver.fail_first:
                    receiver.failed_answers += 1
                    self._answer(500)
                    return
                try:
                    verifier = Webhook(receiver.secret)
                    receiver.accepted.append(verifier.verify(body, dict(self.headers)))
                except WebhookVerificationError as error:
                    receiver.rejected.append(str(error))
                    self._answer(401)
                    return
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
