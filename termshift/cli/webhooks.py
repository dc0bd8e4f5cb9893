"""`webhooks`: point Termshift at an endpoint and it receives every event, signed (SPEC §7).

Each endpoint has its own delivery workflow (webhooks-<id> in the Temporal UI); `docs/WEBHOOKS.md`
says what arrives and how to verify it.
"""

import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from activities.webhooks import shown_url
from billing.commands import Cli, command, full_command
from store.repository import webhooks as store
from termshift.cli._common import (
    JsonOption,
    Refused,
    client,
    console,
    database,
    emit_json,
    handled,
    print_listing,
    run,
)
from termshift.services import webhooks as service
from termshift.services.webhooks import BadWebhookInput

webhooks = typer.Typer(
    help="Webhooks: send every event to an endpoint, signed, in order per contract.",
    no_args_is_help=True,
)

EndpointArgument = Annotated[
    str, typer.Argument(help="The endpoint's id, as webhooks list shows it.")
]


@webhooks.command("new-secret")
def new_secret(
    path: Annotated[Path, typer.Argument(help="The file to write the secret to (mode 600).")],
) -> None:
    """Write a fresh signing secret to a file: for the endpoint (--secret-file) and the receiver."""
    with handled():
        if path.exists():
            raise Refused(
                f"{path} exists already; choose a new file (a secret is never overwritten)."
            )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(service.new_secret() + "\n")
    console.print(f"Wrote a new webhook secret to {path}.", highlight=False)


@webhooks.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST the events (http:// or https://).")],
    secret_file: Annotated[
        Path,
        typer.Option(
            "--secret-file", help="The file of the signing secret (made by webhooks new-secret)."
        ),
    ],
    events: Annotated[
        str,
        typer.Option(
            "--events", help="Comma-separated event types; `all` (default) for every type."
        ),
    ] = "all",
    after: Annotated[
        int | None,
        typer.Option(
            "--after", help="Also send the events after this position (default: from now on)."
        ),
    ] = None,
    endpoint_id: Annotated[
        str | None, typer.Option("--id", help="The endpoint's id (default: one is made up).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Send the events written from now on (or after `--after`) to URL."""
    with handled():
        try:
            secret = service.read_secret(secret_file)
            types = () if events.strip() == "all" else service.check_types(events.split(","))
            if not events.strip():
                raise BadWebhookInput("--events needs at least one type, or `all`.")
        except BadWebhookInput as error:
            raise Refused(str(error)) from None
        db = database()

        async def go() -> store.Endpoint:
            connected = await client()
            try:
                return await service.add_endpoint(
                    connected,
                    db,
                    url=url,
                    types=types,
                    secret=secret,
                    after=after,
                    endpoint_id=endpoint_id,
                )
            except BadWebhookInput as error:
                raise Refused(str(error)) from None

        endpoint = run(go)
    if json:
        emit_json(_shown(endpoint, store.DeliveryCounts()))
        return
    console.print(
        f"Added webhook endpoint {endpoint.id}: {shown_url(endpoint.url)} receives "
        f"{', '.join(endpoint.event_types) or 'every event'} after position "
        f"{endpoint.after_position}. Check it with "
        f"{full_command(Cli.WEBHOOKS_TEST, endpoint.id)}.",
        highlight=False,
    )


@webhooks.command("list")
def list_endpoints(
    removed: Annotated[bool, typer.Option("--removed", help="Also the removed endpoints.")] = False,
    json: JsonOption = False,
) -> None:
    """The endpoints, with their deliveries: delivered, pending, failed, the last error."""
    with handled():
        db = database()
        with db.session() as session:
            shown = [
                _shown(endpoint, store.delivery_counts(session, endpoint.id))
                for endpoint in store.list_endpoints(session, removed=removed)
            ]
    if json:
        emit_json(shown)
        return
    if not shown:
        console.print(
            "No webhook endpoints. Add one with "
            f"{full_command(Cli.WEBHOOKS_ADD, 'URL', secret_file='FILE')}.",
            highlight=False,
        )
        return
    print_listing(
        ("id", "url", "events", "delivered", "pending", "failed", "last error", "removed"),
        (
            (
                item.id,
                item.url,
                ", ".join(item.event_types) or "all",
                str(item.delivered),
                str(item.pending),
                str(item.failed),
                item.last_error or "",
                "" if item.removed_at is None else f"{item.removed_at:%Y-%m-%d %H:%M}",
            )
            for item in shown
        ),
        drop=("removed", "last error", "events"),
        right=("delivered", "pending", "failed"),
    )
    for item in shown:
        if item.failed:
            console.print(
                f"{item.id}: {item.failed} failed, holding back their contracts' later events; "
                f"once the receiver is fixed, {command(Cli.WEBHOOKS_REDELIVER, item.id)} sends "
                "them again.",
                highlight=False,
            )


@webhooks.command("remove")
def remove(endpoint_id: EndpointArgument) -> None:
    """Stop sending events to the endpoint (its deliveries stay listed with `--removed`)."""
    with handled():
        db = database()

        async def go() -> store.Endpoint:
            return await service.remove_endpoint(await client(), db, endpoint_id)

        endpoint = run(go)
    console.print(
        f"Removed webhook endpoint {endpoint.id} ({shown_url(endpoint.url)}).", highlight=False
    )


@webhooks.command("test")
def send_test(endpoint_id: EndpointArgument, json: JsonOption = False) -> None:
    """Send the endpoint a signed `webhook.test` message now and say how it answered."""
    with handled():
        db = database()

        async def go() -> service.TestResult:
            return await service.send_test(db, endpoint_id)

        result = run(go)
    if json:
        emit_json(asdict(result))
    elif result.error is None:
        console.print(
            f"{result.url} acknowledged the test message {result.message_id}.", highlight=False
        )
    else:
        console.print(
            f"[red]The test message was not acknowledged:[/] {result.error}", highlight=False
        )
    if result.error is not None:
        raise typer.Exit(1)


@webhooks.command("redeliver")
def redeliver(
    endpoint_id: EndpointArgument,
    event: Annotated[
        str | None, typer.Option("--event", help="Only this event's delivery.")
    ] = None,
) -> None:
    """Try the failed deliveries of the endpoint again, each contract's in order."""
    with handled():
        db = database()
        with db.session() as session:
            count = store.redeliver(session, endpoint_id, event_id=event)
    console.print(
        f"{count} failed deliver{'y' if count == 1 else 'ies'} of {endpoint_id} "
        "will be sent again.",
        highlight=False,
    )


@dataclass(frozen=True)
class EndpointShown:
    """An endpoint as `webhooks list --json` prints it (never its secret)."""

    id: str
    url: str
    event_types: list[str]
    after_position: int
    created_at: datetime
    removed_at: datetime | None
    delivered: int
    pending: int
    failed: int
    last_error: str | None


def _shown(endpoint: store.Endpoint, counts: store.DeliveryCounts) -> EndpointShown:
    return EndpointShown(
        id=endpoint.id,
        url=shown_url(endpoint.url),
        event_types=list(endpoint.event_types),
        after_position=endpoint.after_position,
        created_at=endpoint.created_at,
        removed_at=endpoint.removed_at,
        delivered=counts.delivered,
        pending=counts.pending,
        failed=counts.failed,
        last_error=counts.last_error,
    )
