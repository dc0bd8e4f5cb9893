"""`locations`, `plans` and `customers`: the reference data contracts are built on."""

from typing import Annotated

import typer

from billing.cadence import parse_cadence
from billing.contract import Customer, Location, Plan
from billing.money import format_money, parse_amount
from billing.terms import Terms
from store import repository
from termshift.cli._common import (
    ActorOption,
    JsonOption,
    ReasonOption,
    amount_text,
    console,
    database,
    emit_json,
    handled,
    print_listing,
    requested,
)
from termshift.cli._terms import (
    MaxFreezeCyclesOption,
    MaxFreezesPerYearOption,
    MinimumTermOption,
    NoticeOption,
    RenewalOption,
    given_terms,
    with_terms,
)
from termshift.services import catalog

locations = typer.Typer(help="Coworking sites: timezone and currency.", no_args_is_help=True)
plans = typer.Typer(help="Plans (tariffs) of a location.", no_args_is_help=True)
customers = typer.Typer(help="Customers of a location.", no_args_is_help=True)


@locations.command("add")
def add_location(
    id: Annotated[str, typer.Argument(help="Short id, e.g. berlin.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[
        str, typer.Option(help="IANA timezone, e.g. Europe/Berlin, or a fixed offset: UTC+05:30.")
    ],
    currency: Annotated[str, typer.Option(help="ISO-4217 code, e.g. EUR.")],
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Add a location."""
    with handled():
        location = Location.new(id=id, name=name, timezone=timezone, currency=currency)
        added = catalog.add_location(database(), location, requested(actor, reason))
        if json:
            emit_json(location)
        else:
            verb = "Added" if added else "Already had"
            console.print(
                f"{verb} location [bold]{location.id}[/] "
                f"({location.timezone}, {location.currency})."
            )


@locations.command("list")
def list_locations(json: JsonOption = False) -> None:
    """List locations."""
    with handled(), database().session() as session:
        rows = repository.list_locations(session)
        if json:
            emit_json(rows)
            return
        print_listing(
            ("id", "name", "timezone", "currency"),
            ((row.id, row.name, row.timezone, row.currency) for row in rows),
        )


@plans.command("add")
def add_plan(
    code: Annotated[str, typer.Argument(help="Short code, e.g. hot-desk.")],
    location: Annotated[str, typer.Option(help="Location id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    price: Annotated[str, typer.Option(help="Price per period, e.g. 1500.00.")],
    every: Annotated[str, typer.Option(help='Cadence: "1 month", "3 months", "1 week"...')] = (
        "1 month"
    ),
    deposit: Annotated[str, typer.Option(help="Refundable deposit (0 for none).")] = "0",
    prorate_first_invoice: Annotated[
        bool,
        typer.Option(
            "--prorate-first-invoice/--no-prorate-first-invoice",
            help="Whether contracts on this plan may prorate their first invoice.",
        ),
    ] = True,
    notice: NoticeOption = None,
    minimum_term: MinimumTermOption = None,
    renewal: RenewalOption = None,
    max_freeze_cycles: MaxFreezeCyclesOption = None,
    max_freezes_per_year: MaxFreezesPerYearOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Add a plan to a location (its currency is the location's), with the terms of its
    contracts: notice, minimum term, renewal, freeze limits (§3b; none unless given)."""
    with handled():
        terms = with_terms(
            Terms(),
            given_terms(
                notice=notice,
                minimum_term=minimum_term,
                renewal=renewal,
                max_freeze_cycles=max_freeze_cycles,
                max_freezes_per_year=max_freezes_per_year,
            ),
        )
        db = database()
        with db.session() as session:
            site = repository.get_location(session, location)
        plan = Plan(
            code=code,
            name=name,
            location_id=site.id,
            price=parse_amount(amount_text(price), site.currency),
            every=str(parse_cadence(every)),
            deposit=parse_amount(amount_text(deposit), site.currency, allow_zero=True),
            prorate_first_invoice=prorate_first_invoice,
            terms=terms,
        )
        added = catalog.add_plan(db, plan, requested(actor, reason))
        if json:
            emit_json(plan)
        else:
            terms_text = f" Terms: {plan.terms.describe()}." if plan.terms.any else ""
            console.print(
                f"{'Added' if added else 'Already had'} plan [bold]{plan.code}[/]: "
                f"{format_money(plan.price, site.currency)} every {plan.every}, "
                f"deposit {format_money(plan.deposit, site.currency)}.{terms_text}",
                highlight=False,
            )


@plans.command("list")
def list_plans(
    location: Annotated[str | None, typer.Option(help="Only this location's plans.")] = None,
    json: JsonOption = False,
) -> None:
    """List plans."""
    with handled(), database().session() as session:
        rows = repository.list_plans(session, location_id=location)
        if json:
            emit_json(rows)
            return
        currencies = {site.id: site.currency for site in repository.list_locations(session)}
        # The terms column only when a plan has terms: a catalog without any reads as before.
        with_terms_column = any(row.terms.any for row in rows)
        headers = ("code", "name", "location", "price", "every", "deposit", "prorate 1st")
        print_listing(
            (*headers, "terms") if with_terms_column else headers,
            (
                (
                    row.code,
                    row.name,
                    row.location_id,
                    format_money(row.price, currencies[row.location_id]),
                    row.every,
                    format_money(row.deposit, currencies[row.location_id]),
                    "yes" if row.prorate_first_invoice else "no",
                    *((row.terms.describe(),) if with_terms_column else ()),
                )
                for row in rows
            ),
            drop=("name", "location", "prorate 1st", *(("terms",) if with_terms_column else ())),
            right=("price", "deposit"),
        )


@customers.command("add")
def add_customer(
    id: Annotated[str, typer.Argument(help="Short id, e.g. acme.")],
    name: Annotated[str, typer.Option(help="Customer name.")],
    email: Annotated[str, typer.Option(help="Billing email.")],
    location: Annotated[str, typer.Option(help="Location id.")],
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Add a customer to a location."""
    with handled():
        db = database()
        with db.session() as session:
            repository.get_location(session, location)
        customer = Customer(id=id, name=name, email=email, location_id=location)
        added = catalog.add_customer(db, customer, requested(actor, reason))
        if json:
            emit_json(customer)
        else:
            verb = "Added" if added else "Already had"
            console.print(f"{verb} customer [bold]{customer.id}[/] ({customer.name}).")


@customers.command("list")
def list_customers(
    location: Annotated[str | None, typer.Option(help="Only this location's customers.")] = None,
    json: JsonOption = False,
) -> None:
    """List customers."""
    with handled(), database().session() as session:
        rows = repository.list_customers(session, location_id=location)
        if json:
            emit_json(rows)
            return
        print_listing(
            ("id", "name", "email", "location"),
            ((row.id, row.name, row.email, row.location_id) for row in rows),
            drop=("location", "email"),
        )
