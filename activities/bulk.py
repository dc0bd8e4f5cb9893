"""The activities of a bulk job's workflow (SPEC §8): send a page of its contracts their command,
and mark the job finished. The work is `termshift.services.bulk`'s; these connect it to Temporal
(a page heartbeats each answer, so that a cancelled job stops within seconds)."""

import asyncio

from temporalio import activity
from temporalio.client import Client

from store.db import Database
from termshift.services import bulk
from workflows.bulk_requests import APPLY_BULK_PAGE, FINISH_BULK_JOB, ApplyPage, FinishJob, PageDone


class BulkActivities:
    def __init__(self, client: Client, database: Database) -> None:
        self._client = client
        self._database = database

    @activity.defn(name=APPLY_BULK_PAGE)
    async def apply_page(self, request: ApplyPage) -> PageDone:
        """Send the command to the page's contracts and write their answers."""
        return await bulk.apply_page(
            self._client,
            self._database,
            request,
            attempt=activity.info().attempt,
            heartbeat=activity.heartbeat,
        )

    @activity.defn(name=FINISH_BULK_JOB)
    async def finish_job(self, request: FinishJob) -> None:
        """Mark the job done or cancelled."""
        await asyncio.to_thread(bulk.finish, self._database, request.job_id, request.status)
