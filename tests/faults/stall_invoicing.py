"""The real worker, except that once it has started `TERMSHIFT_STALL_AFTER` date writes
(`record_day`), every later one hangs before it touches the database, and the worker writes
`TERMSHIFT_STALL_MARKER`. The test then SIGKILLs it: the kill is certain to land mid-invoicing, with
writes in flight and contracts still owed invoices, however fast the machine is.

    TERMSHIFT_STALL_AFTER=60 TERMSHIFT_STALL_MARKER=/tmp/x python tests/faults/stall_invoicing.py
"""

import asyncio
import itertools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from termshift import worker

AFTER = int(os.environ["TERMSHIFT_STALL_AFTER"])
MARKER = Path(os.environ["TERMSHIFT_STALL_MARKER"])
_started = itertools.count(1)


class _Stall(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().activity_type == "record_day" and next(_started) > AFTER:
            MARKER.write_text(str(AFTER))
            await asyncio.Event().wait()  # until the SIGKILL
        return await super().execute_activity(input)


class StallInvoicing(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Stall(next)


if __name__ == "__main__":
    asyncio.run(worker.main(interceptors=[StallInvoicing()]))
