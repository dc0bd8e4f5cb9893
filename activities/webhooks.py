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
) -> str | None:
    """POST `document` signed for `message_id` at `at`; None if acknowledged, else why not."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return await _post(url, body, signed_headers(secret, message_id, body, at), timeout=timeout)


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

    @activity.defn(name="claim_webhook_deliveries")
    async def claim(self, request: Claim) -> list[Due]:
        """The events due now (`store.repository.webhooks.next_deliveries`), waiting up to
        `request.wait` for one."""
        deadline = time.monotonic() + request.wait.total_seconds()
        while True:
            found = await asyncio.to_thread(self._claim_once, request)
            if found or time.monotonic() >= deadline or activity.is_worker_shutdown():
                return found  # a worker that stops is not kept waiting
            activity.heartbeat()
            await asyncio.sleep(POLL_INTERVAL_S)

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
    async def deliver(self, request: Deliver) -> None:
        """POST the event once; raise (to be retried) unless the receiver answered 2xx."""
        loaded = await asyncio.to_thread(self._load, request)
        if loaded is None:
            return  # the endpoint was removed: nothing more is sent to it
        url, secret, event = loaded
        now = datetime.now(UTC)
        timeout = request.attempt_timeout.total_seconds()
        error = await post_signed(url, message_body(event), secret, event.id, now, timeout=timeout)
        await asyncio.to_thread(self._record, request, now, error)
        if error is not None:
            raise ApplicationError(error, type="WebhookNotAcknowledged")

    def _load(self, request: Deliver) -> tuple[str, str, StoredEvent] | None:
        with self._database.session() as session:
            try:
                endpoint = webhooks.get_endpoint(session, request.endpoint_id)
            except NotFound:
                return None
            if endpoint.removed_at is not None:
                return None
            [event] = event_store.list_events(session, after=request.position - 1, limit=1)
            return endpoint.url, webhooks.endpoint_secret(session, endpoint.id), event

    def _record(self, request: Deliver, at: datetime, error: str | None) -> None:
        with self._database.session() as session:
            webhooks.record_attempt(
                session, request.endpoint_id, request.position, at=at, error=error
            )

    @activity.defn(name="give_up_webhook_delivery")
    async def give_up(self, request: GiveUp) -> None:
        """Keep the delivery as failed, for `webhooks redeliver`."""

        def write() -> None:
            with self._database.session() as session:
                webhooks.give_up(
                    session, request.endpoint_id, request.position, error=request.error
                )

        await asyncio.to_thread(write)


async def _post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> str | None:
    """None if the receiver acknowledged the POST, else what went wrong (no secret in it)."""
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return f"{shown_url(url)} did not answer within {timeout:g} s"
    except httpx.HTTPError as error:
        return f"{shown_url(url)} could not be reached: {type(error).__name__}"
    if 200 <= response.status_code < 300:
        return None
    text: Any = response.text[:ERROR_TEXT_LIMIT].strip()
    return f"{shown_url(url)} answered HTTP {response.status_code}" + (f": {text}" if text else "")
