"""One endpoint's deliveries (SPEC §7): `webhooks-<endpoint id>`, for as long as the endpoint is
there.

The workflow asks for the events due (per contract the earliest one not yet acknowledged, of
contracts with nothing in flight), delivers each contract's in an activity that Temporal retries
with backoff for the endpoint's retry window — the contract's pending events one after the other,
each once the one before was acknowledged, up to `DELIVERY_BURST` — and asks again. A delivery whose
retries ran out is kept as failed and holds back its contract's later events until `webhooks
redeliver`; other contracts go on. It decides and waits, never writes: the activities read the
secret and record each attempt. Every `deliveries_per_run` deliveries it continues as new, after
what is in flight has finished (or, after `drain_timeout`, a minute, has been cancelled — not given
up: those events are due again in the next run, at least once).
"""

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from workflows.webhook_requests import (
        CLAIM_DELIVERIES,
        DELIVER_EVENT,
        DELIVERY_BURST,
        GIVE_UP_DELIVERY,
        Claim,
        Deliver,
        Due,
        EndpointDelivery,
        GiveUp,
    )

CLAIM_TIMEOUT = timedelta(minutes=2)
CLAIM_WAIT = timedelta(seconds=20)
"""How long a claim with nothing in flight waits for an event before the workflow asks again."""
CLAIM_IN_BATCHES = "webhook-claims-in-batches"
"""Patch: with deliveries in flight, the workflow claims once a quarter of its concurrency is free
(before, as soon as one delivery finished)."""
BUSY_POLL = timedelta(seconds=1)
"""With deliveries in flight, how often the workflow looks for other contracts' events."""
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


def workflow_id(endpoint_id: str) -> str:
    return f"webhooks-{endpoint_id}"


@workflow.defn(name="WebhookEndpoint")
class WebhookEndpointWorkflow:
    def __init__(self) -> None:
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._delivered = 0
        self._finished = 0
        """Deliveries finished (acknowledged or given up): a wake-up for the loop."""

    @workflow.run
    async def run(self, config: EndpointDelivery) -> None:
        batch = max(1, config.concurrency // 4)
        while (
            self._delivered < config.deliveries_per_run
            and not workflow.info().is_continue_as_new_suggested()
        ):
            room = config.concurrency - len(self._in_flight)
            if room <= 0:
                await workflow.wait_condition(lambda: len(self._in_flight) < config.concurrency)
                continue
            if self._in_flight and room < batch and workflow.patched(CLAIM_IN_BATCHES):
                # With deliveries in flight, claim for a few contracts at once, not one by one.
                await workflow.wait_condition(
                    lambda: config.concurrency - len(self._in_flight) >= batch
                )
                continue
            # While deliveries are in flight, ask without waiting (the events of their contracts
            # become due as they finish); with none, the claim waits for the next event itself.
            busy = bool(self._in_flight)
            due = await workflow.execute_activity(
                CLAIM_DELIVERIES,
                Claim(
                    endpoint_id=config.endpoint_id,
                    in_flight=sorted(self._in_flight),
                    limit=room,
                    wait=timedelta(0) if busy else CLAIM_WAIT,
                ),
                result_type=list[Due],
                start_to_close_timeout=CLAIM_TIMEOUT,
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=WRITE_RETRY,
            )
            if busy and not due:
                await self._one_finished_or(BUSY_POLL)
                continue
            for item in due:
                self._in_flight[item.contract_id] = asyncio.create_task(self._deliver(config, item))
        try:
            await workflow.wait_condition(lambda: not self._in_flight, timeout=config.drain_timeout)
        except TimeoutError:
            # Cancelled, and due again in the next run. Continue-as-new must be the workflow
            # task's last command: wait for the cancellations (resolved at once) to end the
            # deliveries first, or the server refuses the task and the endpoint stops.
            draining = list(self._in_flight.values())
            for task in draining:
                task.cancel()
            await asyncio.gather(*draining, return_exceptions=True)
        workflow.continue_as_new(config)

    async def _one_finished_or(self, timeout: timedelta) -> None:
        """Wait until a delivery in flight finishes, at most `timeout`."""
        finished = self._finished
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._finished != finished, timeout=timeout)

    async def _deliver(self, config: EndpointDelivery, item: Due) -> None:
        elapsed = timedelta(0)
        if item.first_attempt_at is not None:
            elapsed = max(timedelta(0), workflow.now() - item.first_attempt_at)
        window = max(config.retry_window - elapsed, config.attempt_timeout * 2)
        attempt = config.attempt_timeout + timedelta(seconds=5)
        try:
            delivered = await workflow.execute_activity(
                DELIVER_EVENT,
                Deliver(
                    endpoint_id=config.endpoint_id,
                    position=item.position,
                    attempt_timeout=config.attempt_timeout,
                    contract_id=item.contract_id,
                    burst=DELIVERY_BURST,
                ),
                schedule_to_close_timeout=window,
                start_to_close_timeout=attempt * DELIVERY_BURST,
                heartbeat_timeout=attempt * 2,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=config.max_retry_interval,
                ),
            )
            # How many events it delivered (None from an activity that delivered one).
            self._delivered += delivered if isinstance(delivered, int) else 1
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, CancelledError):
                return  # cancelled by the drain: still pending, not given up
            reason = getattr(cause, "message", None) or str(cause or error)
            await workflow.execute_activity(
                GIVE_UP_DELIVERY,
                GiveUp(
                    endpoint_id=config.endpoint_id,
                    position=item.position,
                    error=f"Gave up after the retry window: {reason}",
                    contract_id=item.contract_id,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=WRITE_RETRY,
            )
        finally:
            self._in_flight.pop(item.contract_id, None)
            self._finished += 1
