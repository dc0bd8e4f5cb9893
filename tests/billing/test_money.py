"""Money: minor units per currency, parsing of prices, formatting (R4)."""

from decimal import Decimal

import pytest

from billing.errors import BillingError, UnknownCurrencyError
from billing.money import (
    CURRENCIES,
    RETIRED_CURRENCIES,
    format_money,
    minor_units,
    normalize_currency,
    parse_amount,
    round_money,
)


@pytest.mark.parametrize(
    ("currency", "decimals"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("AUD", 2),
        ("CAD", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
    ],
)
def test_minor_units(currency: str, decimals: int) -> None:
    assert minor_units(currency) == decimals
    assert minor_units(currency.lower()) == decimals


@pytest.mark.parametrize("code", ["XYZ", "US", "dollar", "", "EURO", "BTC"])
def test_unknown_currency_is_refused_with_a_clear_message(code: str) -> None:
    with pytest.raises(UnknownCurrencyError) as raised:
        minor_units(code)
    message = str(raised.value)
    assert f"Unknown currency {code!r}" in message
    assert "ISO-4217" in message
    assert "USD" in message


def test_unknown_currency_is_a_billing_error() -> None:
    assert issubclass(UnknownCurrencyError, BillingError)
    with pytest.raises(UnknownCurrencyError):
        parse_amount("10", "XYZ")


def test_normalize_currency() -> None:
    assert normalize_currency(" usd ") == "USD"


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("1500", "USD", Decimal("1500.00")),
        ("1500.5", "USD", Decimal("1500.50")),
        (" 1500.00 ", "EUR", Decimal("1500.00")),
        (Decimal("1E+3"), "USD", Decimal("1000.00")),
        (50000, "JPY", Decimal("50000")),
        ("1.234", "KWD", Decimal("1.234")),
        ("1500.000", "USD", Decimal("1500.00")),
    ],
)
def test_parse_amount_accepts(value: str | int | Decimal, currency: str, expected: Decimal) -> None:
    parsed = parse_amount(value, currency)
    assert parsed == expected
    assert parsed.as_tuple().exponent == -minor_units(currency)


def test_parse_amount_accepts_zero_only_when_asked() -> None:
    assert parse_amount("0", "USD", allow_zero=True) == Decimal("0.00")
    with pytest.raises(BillingError, match="is zero"):
        parse_amount("0", "USD")


@pytest.mark.parametrize(
    ("value", "currency", "fragment"),
    [
        ("-5", "USD", "is negative"),
        ("-0.01", "USD", "is negative"),
        ("0", "USD", "is zero"),
        ("0.00", "EUR", "is zero"),
        ("NaN", "USD", "is not an amount"),
        ("sNaN", "USD", "is not an amount"),
        ("Infinity", "USD", "is not an amount"),
        ("-inf", "USD", "is not an amount"),
        ("12.345", "USD", "more decimals than USD allows (2)"),
        ("1.5", "JPY", "more decimals than JPY allows (0)"),
        ("1.2345", "KWD", "more decimals than KWD allows (3)"),
        ("1e-5", "USD", "more decimals"),
        ("abc", "USD", "is not an amount"),
        ("1,500.00", "USD", "is not an amount"),
        ("", "USD", "is not an amount"),
        ("12 USD", "USD", "is not an amount"),
        ("1e30", "USD", "too large"),
    ],
)
def test_parse_amount_refuses(value: str, currency: str, fragment: str) -> None:
    with pytest.raises(BillingError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_amount(value, currency)


def test_round_money_is_half_up() -> None:
    assert round_money(Decimal("0.125"), "USD") == Decimal("0.13")
    assert round_money(Decimal("0.135"), "USD") == Decimal("0.14")
    assert round_money(Decimal("2.5"), "JPY") == Decimal("3")
    assert round_money(Decimal("0.0005"), "BHD") == Decimal("0.001")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("1500"), "USD", "1,500.00 USD"),
        (Decimal("-354.84"), "usd", "-354.84 USD"),
        (Decimal("16129"), "JPY", "16,129 JPY"),
        (Decimal("1234.5"), "KWD", "1,234.500 KWD"),
        (Decimal("1000000.005"), "EUR", "1,000,000.01 EUR"),
    ],
)
def test_format_money(amount: Decimal, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


@pytest.mark.parametrize(("code", "decimals"), [("HRK", 2), ("hrk", 2), ("BYR", 0), ("SLL", 2)])
def test_a_withdrawn_currency_keeps_billing_but_no_new_location_takes_it(
    code: str, decimals: int
) -> None:
    assert minor_units(code) == decimals
    assert format_money(Decimal("1234.5"), code).endswith(f"{code.upper()}")
    assert parse_amount("10", code) == Decimal(10).quantize(Decimal(1).scaleb(-decimals))
    with pytest.raises(UnknownCurrencyError) as raised:
        normalize_currency(code)
    assert "no longer issued" in str(raised.value)


def test_withdrawn_and_current_codes_do_not_overlap() -> None:
    assert not set(RETIRED_CURRENCIES) & set(CURRENCIES)
