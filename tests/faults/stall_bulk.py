"""The real worker, except that its bulk pages hang right after the `TERMSHIFT_STALL_AFTER`th
contract has taken the job's command — before its answer is written — and the worker writes
`TERMSHIFT_STALL_MARKER`. The test then SIGKILLs it: the kill lands mid-job on any machine, with
one contract that took the command and whose answer is lost. With `TERMSHIFT_SEND_DELAY` (seconds)
the pages do not hang there but go on slowly, that long after each send: a job still under way
whenever the test acts on the marker (it kills the server).

    TERMSHIFT_STALL_AFTER=10 TERMSHIFT_STALL_MARKER=/tmp/x python tests/faults/stall_bulk.py
"""

import asyncio
import itertools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from termshift import worker
from termshift.services import bulk

AFTER = int(os.environ["TERMSHIFT_STALL_AFTER"])
MARKER = Path(os.environ["TERMSHIFT_STALL_MARKER"])
DELAY = float(os.environ.get("TERMSHIFT_SEND_DELAY", "0"))
_sent = itertools.count(1)
_send = bulk.send_command


async def _send_then_stall(*args: Any, **kwargs: Any) -> Any:
    answer = await _send(*args, **kwargs)
    if next(_sent) >= AFTER:
        MARKER.write_text(str(AFTER))
        if DELAY:
            await asyncio.sleep(DELAY)
        else:
            await asyncio.Event().wait()  # until the SIGKILL
    return answer


if __name__ == "__main__":
    bulk.send_command = _send_then_stall
    asyncio.run(worker.main())
