"""What an endpoint's delivery workflow asks its activities, and what they answer (wire models)."""

from datetime import datetime, timedelta

from pydantic import BaseModel

CLAIM_DELIVERIES = "claim_webhook_deliveries"
DELIVER_EVENT = "deliver_webhook_event"
GIVE_UP_DELIVERY = "give_up_webhook_delivery"


class EndpointDelivery(BaseModel):
    """The input of an endpoint's workflow (and of each run it continues as)."""

    endpoint_id: str
    concurrency: int = 8
    """Contracts whose next event is being delivered at once."""
    retry_window: timedelta = timedelta(days=3)
    """How long an event is retried before it is kept as failed."""
    attempt_timeout: timedelta = timedelta(seconds=30)
    """One attempt: the request and the receiver's answer."""
    max_retry_interval: timedelta = timedelta(hours=1)


class Claim(BaseModel):
    endpoint_id: str
    in_flight: list[str]
    """Contracts whose delivery is under way: none of their events is due."""
    limit: int
    wait: timedelta = timedelta(seconds=20)
    """How long to wait for an event before answering with none."""


class Due(BaseModel):
    position: int
    contract_id: str
    first_attempt_at: datetime | None


class Deliver(BaseModel):
    endpoint_id: str
    position: int
    attempt_timeout: timedelta


class GiveUp(BaseModel):
    endpoint_id: str
    position: int
    error: str
