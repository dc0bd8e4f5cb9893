"""The month-end's events pushed to a webhook receiver on 127.0.0.1 (SPEC §7).

Before the month-end instant the benchmark adds an endpoint, as `webhooks add` does, that
receives every event from then on; the receiver runs in a thread of the benchmark process and
verifies each request's signature with the `standardwebhooks` library. Once the invoices are in,
the benchmark waits until every event the month-end wrote is acknowledged (`webhook_deliveries`
says delivered) and reports the seconds from the instant to the last acknowledgement, events per
second, and that time against the invoices' (target ≤ 1.5×).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client

from bench.harness import Results, console, poll_until, rate, ratio
from store.db import Database
from store.models import EventRow, WebhookDeliveryRow
from termshift.services.webhooks import add_endpoint
from termshift.settings import Settings

ENDPOINT = "bench"
TARGET = 1.5
"""The last month-end event acknowledged within this many times the invoices' seconds."""


@dataclass
class Receiver:
    url: str = ""
    requests: int = 0
    refused: int = 0
    ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def receiving(secret: str) -> Iterator[Receiver]:
    """A receiver on a free port of 127.0.0.1 that answers 204 to what verifies, 401 else."""
    receiver = Receiver()
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                verifier.verify(body, dict(self.headers))
                status = 204
            except WebhookVerificationError:
                status = 401
            with receiver.lock:
                receiver.requests += 1
                if status == 204:
                    receiver.ids.add(self.headers["webhook-id"])
                else:
                    receiver.refused += 1
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


async def add_bench_endpoint(
    client: Client, database: Database, receiver_url: str, secret: str, task_queue: str
) -> int:
    """The endpoint, with its delivery workflow on `task_queue`; the last event position before
    it (what it does not receive)."""
    endpoint = await add_endpoint(
        client,
        database,
        url=receiver_url,
        types=(),
        secret=secret,
        after=None,
        endpoint_id=ENDPOINT,
        settings=Settings(webhook_task_queue=task_queue),
    )
    return endpoint.after_position


async def delivery_phase(
    database: Database, receiver: Receiver, after: int, instant: datetime, out: Results
) -> None:
    """Wait until every event past `after` is acknowledged; record the numbers."""

    def events() -> int:
        with database.session() as session:
            return int(session.scalar(select(func.count()).where(EventRow.position > after)) or 0)

    def delivered() -> int:
        with database.session() as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        WebhookDeliveryRow.endpoint_id == ENDPOINT,
                        WebhookDeliveryRow.status == "delivered",
                    )
                )
                or 0
            )

    total = events()
    done, _ = await poll_until("month-end events delivered", total, delivered, timeout=600)
    with database.session() as session:
        last = session.scalar(
            select(func.max(WebhookDeliveryRow.delivered_at)).where(
                WebhookDeliveryRow.endpoint_id == ENDPOINT
            )
        )
    span = (last - instant).total_seconds() if last is not None else None
    invoices = out.numbers.get("month_end_seconds")
    out.numbers.update(
        webhook_events=total,
        webhook_events_delivered=done,
        webhook_seconds=round(span, 2) if span is not None else None,
        webhook_events_per_second=rate(done, span),
        webhook_vs_invoices_time=ratio(span, invoices),
        webhook_requests=receiver.requests,
        webhook_duplicates=receiver.requests - receiver.refused - len(receiver.ids),
        webhook_refused=receiver.refused,
    )
    if done < total:
        out.notes.append(f"Only {done} of the month-end's {total} events were delivered in time.")
    if len(receiver.ids) != done:
        out.notes.append(
            f"The receiver verified {len(receiver.ids)} distinct events, the database says "
            f"{done} delivered."
        )
    console.print(
        f"  {done} events delivered to the receiver {span:.1f} s after the instant "
        f"({rate(done, span)}/s; {ratio(span, invoices)}× the invoices' time, target ≤ {TARGET})"
        if span is not None
        else "  no event was delivered"
    )
