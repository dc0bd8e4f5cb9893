"""Cadences: every N weeks, months or years."""

import pytest

from billing.cadence import MONTHLY, Cadence, CadenceUnit, parse_cadence
from billing.errors import BillingError, InvalidCadenceError


@pytest.mark.parametrize(
    ("text", "count", "unit"),
    [
        ("1 month", 1, CadenceUnit.MONTH),
        ("3 months", 3, CadenceUnit.MONTH),
        ("1 week", 1, CadenceUnit.WEEK),
        ("2 weeks", 2, CadenceUnit.WEEK),
        ("1 year", 1, CadenceUnit.YEAR),
        ("12 Months", 12, CadenceUnit.MONTH),
        ("  2   WEEKS ", 2, CadenceUnit.WEEK),
        ("1 months", 1, CadenceUnit.MONTH),
        ("120 years", 120, CadenceUnit.YEAR),
    ],
)
def test_accepted_forms(text: str, count: int, unit: CadenceUnit) -> None:
    cadence = parse_cadence(text)
    assert cadence == Cadence(count=count, unit=unit)
    assert parse_cadence(str(cadence)) == cadence


def test_str_is_the_canonical_form() -> None:
    assert str(parse_cadence("3 month")) == "3 months"
    assert str(parse_cadence("1 weeks")) == "1 week"
    assert str(MONTHLY) == "1 month"


def test_a_cadence_passes_through() -> None:
    assert parse_cadence(MONTHLY) is MONTHLY


@pytest.mark.parametrize(
    "text",
    ["monthly", "0 months", "121 months", "1 day", "", "1.5 months", "-1 month", "month", "1 m"],
)
def test_refusals_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidCadenceError) as raised:
        parse_cadence(text)
    message = str(raised.value)
    assert f"Unknown billing cadence {text!r}" in message
    for accepted in ('"1 month"', '"3 months"', '"1 week"', '"2 weeks"', '"1 year"'):
        assert accepted in message
    assert isinstance(raised.value, BillingError)


def test_a_cadence_is_parsed_once_and_a_refusal_raised_every_time() -> None:
    assert parse_cadence("2 weeks") is parse_cadence("2 weeks")
    for _ in range(2):
        with pytest.raises(InvalidCadenceError, match="'monthly'"):
            parse_cadence("monthly")


@pytest.mark.parametrize("value", [None, 3, ["1 month"]])
def test_anything_but_text_is_refused(value: object) -> None:
    with pytest.raises(InvalidCadenceError, match="Unknown billing cadence"):
        parse_cadence(value)  # type: ignore[arg-type]
