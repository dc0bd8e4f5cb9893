"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies each request with
the `standardwebhooks` library and keeps what it accepted, in arrival order.

A test may make it misbehave: answer 500 to the first requests (`fail_first`), or decide each
verified request's fate with `decide` — acknowledge it, answer 500, answer too late (after it was
handled: the sender times out and sends it again), or hold it until the test releases it.
"""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Answer = Literal["ok", "fail", "late", "stall"]
"""What the receiver does with a verified request:

- `ok`: handles it (kept in `accepted`) and answers 204;
- `fail`: answers 500 and keeps nothing;
- `late`: handles it (kept in `accepted`), then answers 204 only after `late_by` seconds — longer
  than the sender waits, so for the sender it was not acknowledged;
- `stall`: handles it (kept in `accepted`), sets `stalled` and answers 204 only once the test
  sets `release`.
"""

Decide = Callable[[dict[str, Any], int], Answer]
"""A verified message and how many times its id had arrived before → what to do with it."""


@dataclass
class Receiver:
    secret: str = ""
    """What it verifies with; a test may change it while the receiver runs."""
    url: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    """The messages it handled, in arrival order (a message sent again is there again)."""
    rejected: list[str] = field(default_factory=list)
    fail_first: int = 0
    failed_answers: int = 0
    decide: Decide | None = None
    late_by: float = 0.0
    answers: dict[Answer, int] = field(default_factory=dict)
    """How many verified requests got each answer."""
    arrivals: dict[str, int] = field(default_factory=dict)
    """Verified requests per `webhook-id`, whatever they were answered."""
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
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

    async def wait_for_ids(self, ids: set[str], *, timeout: float) -> None:
        """Until every event id in `ids` was handled at least once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while missing := ids - {message["data"]["id"] for message in list(self.accepted)}:
            if loop.time() > deadline:
                raise AssertionError(
                    f"{len(ids) - len(missing)} of {len(ids)} events arrived; answers "
                    f"{self.answers}, rejected {self.rejected[:3]}"
                )
            await asyncio.sleep(0.1)

    def first_arrivals(self) -> list[dict[str, Any]]:
        """`accepted` without the messages sent again: each event's first arrival, in order."""
        seen: set[str] = set()
        first = []
        for message in list(self.accepted):
            if message["data"]["id"] not in seen:
                seen.add(message["data"]["id"])
                first.append(message)
        return first


@contextmanager
def receiving(
    secret: str,
    *,
    fail_first: int = 0,
    port: int = 0,
    decide: Decide | None = None,
    late_by: float = 0.0,
) -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (on `port`, or one the kernel picks) for the block."""
    receiver = Receiver(secret=secret, fail_first=fail_first, decide=decide, late_by=late_by)

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
                    message = verifier.verify(body, dict(self.headers))
                except WebhookVerificationError as error:
                    receiver.rejected.append(str(error))
                    self._answer(401)
                    return
                message_id = self.headers["webhook-id"]
                earlier = receiver.arrivals.get(message_id, 0)
                receiver.arrivals[message_id] = earlier + 1
                answer = receiver.decide(message, earlier) if receiver.decide else "ok"
                receiver.answers[answer] = receiver.answers.get(answer, 0) + 1
                if answer != "fail":
                    receiver.accepted.append(message)
            if answer == "fail":
                self._answer(500)
                return
            if answer == "late":
                time.sleep(receiver.late_by)
            elif answer == "stall":
                receiver.stalled.set()
                receiver.release.wait(timeout=120)
            self._answer(204)

        def _answer(self, status: int) -> None:
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender is gone (it timed out, or its process was killed)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
