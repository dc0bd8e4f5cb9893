"""What an endpoint's delivery workflow asks its activities, and what they answer (wire models)."""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

CLAIM_DELIVERIES = "claim_webhook_deliveries"
DELIVER_EVENT = "deliver_webhook_event"
GIVE_UP_DELIVERY = "give_up_webhook_delivery"

DELIVERIES_PER_RUN = 500
"""Deliveries before the workflow continues as new (its history stays a few thousand events)."""
DRAIN_TIMEOUT = timedelta(minutes=1)
DELIVERY_BURST = 20
"""At most this many of one contract's events, one after the other, per delivery activity."""


class EndpointDelivery(BaseModel):
    """The input of an endpoint's workflow (and of each run it continues as)."""

    endpoint_id: str
    concurrency: int = 16
    """Contracts whose next event is being delivered at once."""
    retry_window: timedelta = timedelta(days=3)
    """How long an event is retried before it is kept as failed."""
    attempt_timeout: timedelta = timedelta(seconds=30)
    """One attempt: the request and the receiver's answer."""
    max_retry_interval: timedelta = timedelta(hours=1)
    deliveries_per_run: int = Field(default=DELIVERIES_PER_RUN, ge=1)
    """Acknowledged deliveries before the workflow continues as new."""
    drain_timeout: timedelta = DRAIN_TIMEOUT
    """How long a run that reached `deliveries_per_run` waits for the deliveries in flight before
    it cancels them (they are due again in the next run) and continues as new."""
    # Runs started before `deliveries_per_run` and `drain_timeout` existed have neither in their
    # input and get the defaults: the values the workflow always had.


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
    """The event due when the delivery was scheduled."""
    attempt_timeout: timedelta
    contract_id: str | None = None
    """Set: the contract's pending events from its earliest, each sent once the one before was
    acknowledged, at most `burst` (an attempt after a failure starts again with the event that
    failed). None (runs scheduled before bursts existed): the event at `position` alone."""
    burst: int = 1


class GiveUp(BaseModel):
    endpoint_id: str
    position: int
    error: str
    contract_id: str | None = None
    """Set: the contract's earliest pending delivery is given up (the one a burst stopped at),
    whatever `position` says."""
