"""What a bulk job's workflow asks its activities, and what they answer (wire models)."""

from pydantic import BaseModel, ConfigDict, Field

APPLY_BULK_PAGE = "apply_bulk_page"
FINISH_BULK_JOB = "finish_bulk_job"

PAGE_SIZE = 200
"""Contracts per activity: each page is one activity and a few history events."""
PAGES_PER_RUN = 100
"""Pages before the workflow continues as new: 20,000 contracts, some 700 history events."""


def workflow_id(job_id: str) -> str:
    return f"bulk-{job_id}"


class Tally(BaseModel):
    """How the contracts answered so far."""

    model_config = ConfigDict(extra="ignore")

    applied: int = 0
    refused: int = 0
    skipped: int = 0

    @property
    def done(self) -> int:
        return self.applied + self.refused + self.skipped


class BulkRun(BaseModel):
    """The input of a job's workflow (and of each run it continues as)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    total: int
    after: int = -1
    """The position of the last contract a page took (the next page starts after it)."""
    tally: Tally = Tally()
    concurrency: int = Field(default=32, ge=1, le=500)
    """Commands in flight at once."""
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=5000)
    pages_per_run: int = Field(default=PAGES_PER_RUN, ge=1)


class ApplyPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str
    after: int
    limit: int
    concurrency: int


class PageDone(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tally: Tally
    """The whole job's answers so far, as written (a retried page's earlier answers included)."""
    last_position: int
    exhausted: bool
    """No contract after this page is waiting for an answer."""


class FinishJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str
    status: str
    """`done` or `cancelled`."""


class BulkReport(BaseModel):
    """What a job's run did: its end, and how the contracts answered."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    status: str
    total: int
    tally: Tally
