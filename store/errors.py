"""Errors of the store; every message is a sentence that names the id and what to do."""


class StoreError(Exception):
    """A request the billing database refuses."""


class NotFound(StoreError, LookupError):
    """The row asked for does not exist."""


class Conflict(StoreError):
    """The request contradicts what is already recorded under the same business key."""


class AlreadyExists(Conflict):
    """An id is already taken by a different value."""
