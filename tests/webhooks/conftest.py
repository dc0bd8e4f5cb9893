"""Fixtures of the store tests, for webhook tests."""

from tests.store.conftest import catalog

__all__ = ["catalog"]
