"""Activities: the only code that writes. Each is idempotent by the business keys of R12."""

from activities.contracts import ContractActivities

__all__ = ["ContractActivities"]
