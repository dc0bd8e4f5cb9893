"""Errors raised by the billing rules; every message is a sentence an admin can act on."""


class BillingError(ValueError):
    """Input the billing rules refuse (bad amount, currency, cadence, date or command)."""


class UnknownCurrencyError(BillingError):
    """A currency code that is not an active ISO-4217 code."""


class InvalidCadenceError(BillingError):
    """A billing cadence that is not one of the accepted forms."""


class InvalidTimezoneError(BillingError):
    """A timezone name that is not in the IANA database."""
