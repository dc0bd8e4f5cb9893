"""A bulk job (SPEC §8): `bulk-<job id>`, one command sent to every contract of a selection.

The job's contracts are written in order when the job is created; the workflow takes them a page
at a time. Each page is one activity that sends the command to its contracts as updates, a
bounded number at once, and writes each answer (applied, refused with the contract's message, or
skipped) before it returns; a retried page asks only the contracts that have no answer yet, and a
contract that took the command already says so (it remembers the job ids it took), so no
contract takes it twice. The workflow keeps the tally for the UI, continues as new every
`pages_per_run` pages (`PAGES_PER_RUN` by default), and on cancellation writes what was done
and stops.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from workflows.bulk_requests import (
        APPLY_BULK_PAGE,
        FINISH_BULK_JOB,
        ApplyPage,
        BulkReport,
        BulkRun,
        FinishJob,
        PageDone,
        Tally,
    )

PAGE_TIMEOUT = timedelta(minutes=10)
PAGE_HEARTBEAT = timedelta(seconds=15)
"""A page heartbeats every second: fifteen seconds without one, its worker is gone (a worker
busy at month-end still beats each second)."""
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


def progress(run: BulkRun, tally: Tally) -> str:
    """The job's progress in words (the UI's current details)."""
    left = max(run.total - tally.done, 0)
    return (
        f"Job {run.job_id}: {tally.done} of {run.total} done — {tally.applied} applied, "
        f"{tally.refused} refused, {tally.skipped} skipped; {left} left."
    )


@workflow.defn(name="BulkJob")
class BulkJobWorkflow:
    def __init__(self) -> None:
        self._tally = Tally()

    @workflow.run
    async def run(self, run: BulkRun) -> BulkReport:
        self._tally = run.tally
        after = run.after
        workflow.set_current_details(progress(run, self._tally))
        try:
            for _ in range(run.pages_per_run):
                page: PageDone = await workflow.execute_activity(
                    APPLY_BULK_PAGE,
                    ApplyPage(
                        job_id=run.job_id,
                        after=after,
                        limit=run.page_size,
                        concurrency=run.concurrency,
                    ),
                    result_type=PageDone,
                    start_to_close_timeout=PAGE_TIMEOUT,
                    heartbeat_timeout=PAGE_HEARTBEAT,
                    retry_policy=PAGE_RETRY,
                    # A cancelled job ends once the page has stopped sending and written its
                    # answers, not before: its report is then what the contracts took.
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=f"Contracts after #{after + 1}",
                )
                self._tally = page.tally  # the whole job's, as written
                after = page.last_position
                workflow.set_current_details(progress(run, self._tally))
                if page.exhausted:
                    return await self._finish(run, "done")
        except (CancelledError, ActivityError) as error:
            if not is_cancelled_exception(error):
                raise
            await self._finish(run, "cancelled")
            raise
        return workflow.continue_as_new(
            run.model_copy(update={"after": after, "tally": self._tally})
        )

    async def _finish(self, run: BulkRun, status: str) -> BulkReport:
        await workflow.execute_activity(
            FINISH_BULK_JOB,
            FinishJob(job_id=run.job_id, status=status),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=PAGE_RETRY,
            summary=f"Job {status}",
        )
        workflow.set_current_details(f"{status.capitalize()}. " + progress(run, self._tally))
        return BulkReport(job_id=run.job_id, status=status, total=run.total, tally=self._tally)

    @workflow.query
    def tally(self) -> Tally:
        return self._tally
