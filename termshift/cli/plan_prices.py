"""`plans set-price`: a plan's new price (R18) — for new contracts at once, for the plan's
running contracts (and those changing to it) as a bulk job (`termshift.cli.bulk`)."""

from datetime import UTC, datetime
from typing import Annotated

import typer

from billing.calendar import local_date
from billing.money import parse_amount
from store import repository
from termshift.cli._common import (
    ActorOption,
    AddressOption,
    JsonOption,
    Refused,
    amount_text,
    database,
    handled,
    requested,
    run,
)
from termshift.cli.bulk import (
    JobOption,
    ReasonOption,
    WaitOption,
    follow,
    launch,
    preview_contracts,
    print_preview,
)
from termshift.cli.catalog import plans
from termshift.cli.contracts import required_date
from termshift.services import bulk as service
from termshift.services import catalog
from workflows.messages import PlanPrice


@plans.command("set-price")
def plan_set_price(
    code: Annotated[str, typer.Argument(help="Plan code.")],
    price: Annotated[str, typer.Option(help="The new price, in the location's currency.")],
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            help="Each contract changes on its first invoice date on or after this date "
            "(YYYY-MM-DD, today or tomorrow in the location).",
        ),
    ],
    grandfather: Annotated[
        bool,
        typer.Option(
            "--grandfather",
            help="Running contracts keep their price (as a custom price); only contracts "
            "created from now on get the new one.",
        ),
    ] = False,
    show_preview: Annotated[
        bool, typer.Option("--preview", help="Show what each contract would get; change nothing.")
    ] = False,
    job: JobOption = None,
    wait: WaitOption = True,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """A plan's new price (R18): at once for new contracts; as a bulk job for its running ones."""
    who = requested(actor, reason)
    with handled():
        db = database()
        with db.session() as session:
            current = repository.get_plan(session, code)
            site = repository.get_location(session, current.location_id)
        amount = parse_amount(amount_text(price), site.currency)
        day = required_date(from_, "Price date", timezone=site.timezone)
        today = local_date(datetime.now(UTC), site.timezone)
        if day < today:
            raise Refused(
                f"The price date {day} is past (today is {today} in {site.id}); nothing changed."
            )
        message = PlanPrice(
            plan=code,
            price=amount,
            from_=day,
            grandfather=grandfather,
            actor=who.actor,
            reason=who.reason,
        )
    selection = service.Selection(plan=code, changing_to_plan=True)
    if show_preview:
        rows = run(lambda: preview_contracts(selection, message, address))
        print_preview(rows, as_json=json, as_csv=False)
        return
    job_id = job or service.new_job_id()
    with handled():
        catalog.set_plan_price(db, code, amount, who, job_id=job_id)
    run(lambda: launch(job_id, "plan_price", message, selection, address=address, allow_empty=True))
    follow(job_id, wait=wait, as_json=json, address=address)
