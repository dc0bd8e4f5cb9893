"""Webhook activities: find the events due for an endpoint, deliver one, give one up (SPEC §7).

A delivery is an HTTP POST of the event, signed as Standard Webhooks specify: `webhook-id` is the
event's id (the same on every attempt, so a receiver can drop duplicates), `webhook-timestamp`
the attempt's time and `webhook-signature` a fresh HMAC-SHA256 of both and the body, made with the
endpoint's secret. Only a 2xx answer acknowledges it. The secret is read from the database by the
activity itself: it never enters a workflow's history, and errors name the URL without its
credentials or query.
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from store.db import Database
from store.errors import NotFound
from store.records import StoredEvent
from store.repository import events as event_store
from store.repository import webhooks
from workflows.webhook_requests import Claim, Deliver, Due, GiveUp

POLL_INTERVAL_S = 0.25
"""How often a claim that found nothing looks again."""
LINGER_S = 0.2
"""How long a claim that found fewer events than it may take waits before it looks once more."""
ERROR_TEXT_LIMIT = 300


def message_body(event: StoredEvent) -> dict[str, Any]:
    """The JSON a receiver gets: Standard Webhooks' `type`, `timestamp` and `data` (the event as
    `events list --json` prints it)."""
    data = event.model_dump(mode="json")
    return {"type": event.type.value, "timestamp": data["occurred_at"], "data": data}


async def post_signed(
    url: str,
    document: dict[str, Any],
    secret: str,
    message_id: str,
    at: datetime,
    *,
    timeout: float,
    client: httpx.AsyncClient | None = None,
) -> str | None:
    """POST `document` signed for `message_id` at `at` (with `client`, else a client of its
    own); None if acknowledged, else why not."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    headers = signed_headers(secret, message_id, body, at)
    if client is not None:
        return await _post(client, url, body, headers, timeout=timeout)
    async with httpx.AsyncClient(follow_redirects=False) as own:
        return await _post(own, url, body, headers, timeout=timeout)


def signed_headers(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def shown_url(url: str) -> str:
    """The URL as errors may name it: no user, password or query."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


class WebhookActivities:
    """Activities bound to one billing database; async, so that waiting receivers hold no thread."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._client: httpx.AsyncClient | None = None

    @activity.defn(name="claim_webhook_deliveries")
    async def claim(self, request: Claim) -> list[Due]:
        """The events due now (`store.repository.webhooks.next_deliveries`), waiting up to
        `request.wait` for one."""
        deadline = time.monotonic() + request.wait.total_seconds()
        while True:
            found = await asyncio.to_thread(self._claim_once, request)
            if found or time.monotonic() >= deadline or activity.is_worker_shutdown():
                break  # a worker that stops is not kept waiting
            activity.heartbeat()
            await asyncio.sleep(POLL_INTERVAL_S)
        # Events come in bursts (a month-end writes thousands): linger a moment to take more
        # contracts at once, so that one claim starts many deliveries.
        if found and len(found) < request.limit:
            await asyncio.sleep(LINGER_S)
            found = await asyncio.to_thread(self._claim_once, request)
        return found

    def _claim_once(self, request: Claim) -> list[Due]:
        with self._database.session() as session:
            webhooks.scan_events(session, request.endpoint_id)
            due = webhooks.next_deliveries(
                session, request.endpoint_id, in_flight=request.in_flight, limit=request.limit
            )
        return [
            Due(position=d.position, contract_id=d.contract_id, first_attempt_at=d.first_attempt_at)
            for d in due
        ]

    @activity.defn(name="deliver_webhook_event")
    async def deliver(self, request: Deliver) -> int:
        """POST the contract's pending events in order, each once the one before was
        acknowledged (or the one event of a request without a contract); raise, to be retried
        from the event that failed, unless the receiver answered 2xx. How many were delivered."""
        loaded = await asyncio.to_thread(self._load, request)
        if loaded is None:
            return 0  # the endpoint was removed: nothing more is sent to it
        url, secret, events = loaded
        timeout = request.attempt_timeout.total_seconds()
        attempts: list[tuple[int, datetime, str | None]] = []
        error: str | None = None
        try:
            for event in events:
                now = datetime.now(UTC)
                error = await post_signed(
                    url, message_body(event), secret, event.id, now, timeout=timeout,
                    client=self._http(),
                )  # fmt: skip
                attempts.append((event.position, now, error))
                if error is not None:
                    break
                activity.heartbeat(event.position)
        finally:  # cancelled or not, what was sent is recorded
            if attempts:
                await asyncio.to_thread(self._record, request.endpoint_id, attempts)
        if error is not None:
            raise ApplicationError(error, type="WebhookNotAcknowledged")
        return len(attempts)

    def _http(self) -> httpx.AsyncClient:
        """One client for every delivery of this worker: connections are kept and reused."""
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    def _load(self, request: Deliver) -> tuple[str, str, list[StoredEvent]] | None:
        with self._database.session() as session:
            try:
                endpoint = webhooks.get_endpoint(session, request.endpoint_id)
            except NotFound:
                return None
            if endpoint.removed_at is not None:
                return None
            if request.contract_id is None:
                events = event_store.list_events(session, after=request.position - 1, limit=1)
            else:
                events = webhooks.pending_events(
                    session, endpoint.id, request.contract_id, limit=max(1, request.burst)
                )
            return endpoint.url, webhooks.endpoint_secret(session, endpoint.id), events

    def _record(self, endpoint_id: str, attempts: list[tuple[int, datetime, str | None]]) -> None:
        with self._database.session() as session:
            webhooks.record_attempts(session, endpoint_id, attempts)

    @activity.defn(name="give_up_webhook_delivery")
    async def give_up(self, request: GiveUp) -> None:
        """Keep the delivery as failed, for `webhooks redeliver`."""

        def write() -> None:
            with self._database.session() as session:
                webhooks.give_up(
                    session,
                    request.endpoint_id,
                    request.position,
                    error=request.error,
                    contract_id=request.contract_id,
                )

        await asyncio.to_thread(write)


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> str | None:
    """None if the receiver acknowledged the POST, else what went wrong (no secret in it)."""
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return f"{shown_url(url)} did not answer within {timeout:g} s"
    except httpx.HTTPError as error:
        return f"{shown_url(url)} could not be reached: {type(error).__name__}"
    if 200 <= response.status_code < 300:
        return None
    text: Any = response.text[:ERROR_TEXT_LIMIT].strip()
    return f"{shown_url(url)} answered HTTP {response.status_code}" + (f": {text}" if text else "")
