"""`invoices`: what contracts have billed, line by line."""

from typing import Annotated

import typer
from rich.table import Table

from billing.money import format_money
from store import repository
from termshift.cli._common import JsonOption, console, database, emit_json, handled, print_listing

invoices = typer.Typer(help="Issued invoices.", no_args_is_help=True)


@invoices.command("list")
def list_invoices(
    contract: Annotated[str | None, typer.Option(help="Only this contract's.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    json: JsonOption = False,
) -> None:
    """List invoices, oldest first."""
    with handled(), database().session() as session:
        rows = repository.list_invoices(session, contract_id=contract, customer_id=customer)
        if json:
            emit_json(rows)
            return
        print_listing(
            ("date", "contract", "customer", "total", "lines", "number"),
            (
                (
                    str(row.issue_date),
                    row.contract_id,
                    row.customer_id,
                    format_money(row.total, row.currency),
                    ", ".join(line.kind.value for line in row.lines),
                    row.number,
                )
                for row in rows
            ),
            drop=("lines", "customer"),
            right=("total",),
        )


@invoices.command("show")
def show_invoice(
    number: Annotated[str, typer.Argument(help="Invoice number.")],
    json: JsonOption = False,
) -> None:
    """Show one invoice with every line."""
    with handled(), database().session() as session:
        invoice = repository.get_invoice(session, number)
        if json:
            emit_json(invoice)
            return
        console.print(
            f"[bold]{invoice.number}[/] issued {invoice.issue_date} to {invoice.customer_id} "
            f"for contract {invoice.contract_id}"
        )
        table = Table("kind", "period", "description", "amount")
        for line in invoice.lines:
            table.add_row(
                line.kind.value,
                f"{line.period_start} to {line.period_end}",
                line.description,
                format_money(line.amount, invoice.currency),
            )
        table.add_row("", "", "[bold]total[/]", format_money(invoice.total, invoice.currency))
        console.print(table)
