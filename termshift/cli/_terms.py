"""Contract terms (§3b) as the CLI takes them: the options of `plans add` and `contracts create`
and the columns of `contracts import`, read into `billing.terms.Terms`.

A term left out is the plan's (for a plan: none). A notice period or minimum term may also be
`none`: for a contract, the plan's is then not kept.
"""

from collections.abc import Mapping
from typing import Annotated

import typer

from billing.errors import BillingError
from billing.terms import Renewal, Terms, parse_span
from termshift.cli._common import Refused

MAX_FREEZE_LIMIT = 120
"""The largest freeze limit a plan or contract may set (a freeze is at most 120 cycles)."""

TERM_NAMES = ("notice", "minimum_term", "renewal", "max_freeze_cycles", "max_freezes_per_year")
"""The terms by field name: also the columns of `contracts import`."""

NoticeOption = Annotated[
    str | None,
    typer.Option(
        "--notice",
        help='Notice period (R14), e.g. "1 month" or "30 days": a cancellation takes effect no '
        "sooner than this after it is asked for; none for no notice.",
    ),
]
MinimumTermOption = Annotated[
    str | None,
    typer.Option(
        "--minimum-term",
        help='Minimum term (R15), e.g. "12 months": the commitment ends this long after the '
        "start, and a cancellation before then is refused; none for no minimum term.",
    ),
]
RenewalOption = Annotated[
    str | None,
    typer.Option(
        "--renewal",
        help="At the commitment end (R16): rolling (continue without a commitment; the "
        "default), renew (a new commitment of the same length) or end (the contract ends).",
    ),
]
MaxFreezeCyclesOption = Annotated[
    int | None,
    typer.Option("--max-freeze-cycles", help="The longest freeze, in billing cycles (R17)."),
]
MaxFreezesPerYearOption = Annotated[
    int | None,
    typer.Option(
        "--max-freezes-per-year",
        help="Freezes that may start in any 365 days (R17); 0 allows none.",
    ),
]

_RENEWALS = (
    "rolling (continue without a commitment), renew (a new commitment of the same length) or "
    "end (the contract ends on its commitment end)"
)


def given_terms(
    *,
    notice: str | None,
    minimum_term: str | None,
    renewal: str | None,
    max_freeze_cycles: int | str | None,
    max_freezes_per_year: int | str | None,
    flags: bool = True,
) -> dict[str, object]:
    """The terms given, each read and checked, by field name; a term not given (None or empty)
    is left out, and `none` for a span is kept as None (no such term). `Refused` names the term,
    the value and the forms it takes; `flags` says whether the terms were options (`--notice`)
    or columns (`notice`)."""
    given: dict[str, object] = {}
    for name, text in (("notice", notice), ("minimum_term", minimum_term)):
        if text is not None and text.strip():
            given[name] = _span(_label(name, flags), text)
    if renewal is not None and renewal.strip():
        given["renewal"] = _renewal(_label("renewal", flags), renewal)
    for name, value, least in (
        ("max_freeze_cycles", max_freeze_cycles, 1),
        ("max_freezes_per_year", max_freezes_per_year, 0),
    ):
        if value is not None and str(value).strip():
            given[name] = _count(_label(name, flags), value, least)
    return given


def with_terms(base: Terms, given: Mapping[str, object]) -> Terms:
    """`base` (a plan's terms, or none) with the terms given in their place. A renewal other
    than rolling acts at the end of a minimum term, so one given without any is refused."""
    terms = Terms.model_validate({**base.model_dump(), **given})
    renewal = given.get("renewal")
    if renewal is not None and renewal is not Renewal.ROLLING and terms.minimum_term is None:
        raise Refused(
            f"Renewal {renewal} acts at the end of a minimum term, and there is none: give a "
            'minimum term too (e.g. "12 months"), or leave the renewal out.'
        )
    return terms


def _label(name: str, flags: bool) -> str:
    return "--" + name.replace("_", "-") if flags else name


def _span(label: str, text: str) -> str | None:
    if text.strip().lower() == "none":
        return None
    try:
        return str(parse_span(text))
    except BillingError as error:
        raise Refused(f"{label}: {error} Or none, for no such term.") from None


def _renewal(label: str, text: str) -> Renewal:
    try:
        return Renewal(text.strip().lower())
    except ValueError:
        raise Refused(f"{label} {_shown(text)} is not a renewal: choose {_RENEWALS}.") from None


def _count(label: str, value: int | str, least: int) -> int:
    text = str(value).strip()
    number = int(text) if text.lstrip("-").isascii() and text.lstrip("-").isdigit() else None
    if number is None or not least <= number <= MAX_FREEZE_LIMIT:
        raise Refused(
            f"{label} {_shown(text)} is not a whole number from {least} to {MAX_FREEZE_LIMIT}."
        )
    return number


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else f"{text[:limit]}…")
