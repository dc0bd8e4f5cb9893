"""Money: `Decimal` amounts rounded once per line, half-up, to the currency's minor unit (R4)."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from billing.errors import BillingError, UnknownCurrencyError

# ISO-4217 codes whose minor unit is not 2 decimals; every other listed code has 2.
_MINOR_UNITS_EXCEPTIONS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

_TWO_DECIMAL_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP
    LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
    NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR
    ZMW ZWG
    """.split()  # noqa: SIM905 -- a table of codes reads better than a list of quoted strings
)

CURRENCIES: dict[str, int] = dict.fromkeys(_TWO_DECIMAL_CODES, 2) | _MINOR_UNITS_EXCEPTIONS
"""Every ISO-4217 code a new location may use, with the number of decimals of its minor unit."""

RETIRED_CURRENCIES: dict[str, int] = {
    "BYR": 0, "CUC": 2, "EEK": 2, "HRK": 2, "LTL": 2, "LVL": 2, "MRO": 2, "SLL": 2, "STD": 2,
    "VEF": 2, "ZWL": 2,
}  # fmt: skip
"""Codes ISO 4217 withdrew. A location created while one was current keeps billing in it (its
contracts' amounts still round to its minor unit), but no new location may use it. A code leaves
`CURRENCIES` for this table, never for nowhere: running contracts decode it for years."""


def normalize_currency(code: str) -> str:
    """The upper-case ISO-4217 code a new location may use, or `UnknownCurrencyError`."""
    normalized = code.strip().upper()
    if normalized in RETIRED_CURRENCIES:
        raise UnknownCurrencyError(
            f"The currency {normalized} is no longer issued (ISO 4217 withdrew it): use the "
            "code that replaced it."
        )
    if normalized not in CURRENCIES:
        raise UnknownCurrencyError(
            f"Unknown currency {code!r}: use an ISO-4217 code such as USD, EUR, GBP, CHF or JPY."
        )
    return normalized


def minor_units(currency: str) -> int:
    """Decimals of the currency's minor unit: JPY 0, USD 2, KWD 3 (retired codes included)."""
    code = currency.strip().upper()
    if code in RETIRED_CURRENCIES:
        return RETIRED_CURRENCIES[code]
    return CURRENCIES[normalize_currency(currency)]


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: Decimal('0.01') for USD, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round once, half-up, to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def read_amount(value: object) -> Decimal:
    """An amount as written (a string such as "1500.00", a whole number, or a `Decimal`): a
    finite number in ASCII digits — `Decimal` alone would also read the digits of other scripts,
    NaN and infinity. Else `BillingError`, which says how to write it."""
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise InvalidOperation
        if isinstance(value, str) and not value.isascii():
            raise InvalidOperation
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise BillingError(f"{value!r} is not an amount: write it like 1500.00.") from None
    if not amount.is_finite():
        raise BillingError(f"{value!r} is not an amount: write it like 1500.00.")
    return amount


def parse_amount(value: str | int | Decimal, currency: str, *, allow_zero: bool = False) -> Decimal:
    """Parse a price or deposit: a finite non-negative amount with at most the currency's decimals.

    Refuses floats' cousins too: exponent notation that hides extra digits, NaN and infinity.
    """
    amount = read_amount(value)
    if amount < 0 or (amount == 0 and not allow_zero):
        kind = "negative" if amount < 0 else "zero"
        raise BillingError(f"The amount {value} is {kind}: give an amount above zero.")
    decimals = minor_units(currency)
    try:
        rounded = round_money(amount, currency)
    except InvalidOperation:
        # Quantizing needs more digits than the decimal context has: no price is that large.
        raise BillingError(f"The amount {value} is too large to be a price or a deposit.") from None
    if rounded != amount:
        raise BillingError(
            f"The amount {value} has more decimals than {currency.strip().upper()} allows "
            f"({decimals})."
        )
    return rounded


def format_money(amount: Decimal, currency: str) -> str:
    """`1,500.00 USD`: grouped, to the minor unit, with the code."""
    decimals = minor_units(currency)
    return f"{round_money(amount, currency):,.{decimals}f} {currency.strip().upper()}"
