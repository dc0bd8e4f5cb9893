"""Webhook endpoints (SPEC §7): add one and start its delivery workflow, remove it, send it a
test, redeliver what failed. The delivery itself is `workflows.webhooks` and `activities.webhooks`.
"""

import base64
import binascii
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.webhooks import post_signed, shown_url
from billing.commands import Cli, full_command
from billing.events import EventType
from store import repository
from store.db import Database
from store.repository import webhooks
from termshift.settings import Settings
from workflows.webhook_requests import EndpointDelivery
from workflows.webhooks import WebhookEndpointWorkflow, workflow_id

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
TEST_EVENT_TYPE = "webhook.test"
ENDPOINT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class BadWebhookInput(ValueError):
    """Input `webhooks` refuses, with nothing changed."""


def new_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def read_secret(path: Path) -> str:
    """The secret in `path` (its first line); refused unless it is a Standard Webhooks secret."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise BadWebhookInput(
            f"Cannot read the secret file {path}: {error.strerror}. Make one with "
            f"{full_command(Cli.WEBHOOKS_NEW_SECRET, path)}."
        ) from None
    body = text.removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except binascii.Error:
        raw = b""
    if not text.startswith(SECRET_PREFIX) or not 24 <= len(raw) <= 64:
        raise BadWebhookInput(
            f"The file {path} does not hold a webhook secret: `whsec_` and 24 to 64 bytes in "
            f"base64. Make one with {full_command(Cli.WEBHOOKS_NEW_SECRET, path)}."
        )
    return text


def check_url(url: str) -> str:
    if not url.startswith(("https://", "http://")) or "://" not in url or len(url) > 2000:
        raise BadWebhookInput(f"{url!r} is not an http:// or https:// URL.")
    return url


def check_types(types: Iterable[str]) -> tuple[str, ...]:
    known = {kind.value for kind in EventType}
    wanted = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise BadWebhookInput(
            f"Unknown event type {unknown[0]!r}. Types: {', '.join(sorted(known))}."
        )
    return wanted


def delivery_config(endpoint_id: str, settings: Settings) -> EndpointDelivery:
    return EndpointDelivery(
        endpoint_id=endpoint_id,
        concurrency=settings.webhook_concurrency,
        retry_window=settings.webhook_retry_window,
        attempt_timeout=settings.webhook_attempt_timeout,
        max_retry_interval=settings.webhook_max_retry_interval,
    )


async def add_endpoint(
    client: Client,
    database: Database,
    *,
    url: str,
    types: Iterable[str],
    secret: str,
    after: int | None,
    endpoint_id: str | None = None,
    settings: Settings | None = None,
) -> webhooks.Endpoint:
    """Record the endpoint and start its delivery workflow; it receives the events after
    position `after` (default: every event from now on)."""
    settings = settings or Settings()
    if endpoint_id is not None and not ENDPOINT_ID.fullmatch(endpoint_id):
        raise BadWebhookInput(
            f"{endpoint_id!r} is not an endpoint id: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    endpoint_id = endpoint_id or f"wh_{uuid.uuid4().hex[:12]}"
    with database.session() as session:
        last = repository.last_position(session)
        if after is not None and not 0 <= after <= last:
            raise BadWebhookInput(f"--after must be a position from 0 to {last}, not {after}.")
        endpoint = webhooks.add_endpoint(
            session,
            endpoint_id=endpoint_id,
            url=check_url(url),
            event_types=check_types(types),
            secret=secret,
            after_position=last if after is None else after,
        )
        await start_delivery(client, endpoint_id, settings)
    return endpoint


async def start_delivery(
    client: Client, endpoint_id: str, settings: Settings, *, again: bool = False
) -> None:
    """Start the endpoint's delivery workflow on `settings.webhook_task_queue`. `again`: after an
    earlier run closed (`reconcile`); deliveries are kept in the database, so a new run goes on
    where the last one stopped, at least once."""
    await client.start_workflow(
        WebhookEndpointWorkflow.run,
        delivery_config(endpoint_id, settings),
        id=workflow_id(endpoint_id),
        task_queue=settings.webhook_task_queue,
        id_reuse_policy=(
            WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if again
            else WorkflowIDReusePolicy.REJECT_DUPLICATE
        ),
    )


async def remove_endpoint(
    client: Client, database: Database, endpoint_id: str
) -> webhooks.Endpoint:
    """Stop delivering to the endpoint: nothing more is sent, its deliveries stay listed."""
    with database.session() as session:
        endpoint = webhooks.remove_endpoint(session, endpoint_id, at=datetime.now(UTC))
    handle: WorkflowHandle[object, object] = client.get_workflow_handle(workflow_id(endpoint_id))
    try:
        await handle.terminate(reason="webhook endpoint removed")
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
    return endpoint


@dataclass(frozen=True)
class TestResult:
    url: str
    message_id: str
    error: str | None
    """None: the receiver acknowledged it (2xx)."""


async def send_test(database: Database, endpoint_id: str, *, timeout: float = 10.0) -> TestResult:
    """Send the endpoint a signed `webhook.test` message now, outside the event record."""
    with database.session() as session:
        endpoint = webhooks.get_endpoint(session, endpoint_id)
        secret = webhooks.endpoint_secret(session, endpoint_id)
    message_id = f"msg_test_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    document = {
        "type": TEST_EVENT_TYPE,
        "timestamp": now.isoformat(),
        "data": {"endpoint_id": endpoint.id, "message": "A test from Termshift."},
    }
    error = await post_signed(endpoint.url, document, secret, message_id, now, timeout=timeout)
    return TestResult(url=shown_url(endpoint.url), message_id=message_id, error=error)
