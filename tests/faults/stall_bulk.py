"""The real worker, except that its bulk pages hang right after the `TERMSHIFT_STALL_AFTER`th
contract has taken the job's command — before its answer is written — and the worker writes
`TERMSHIFT_STALL_MARKER`. The test then SIGKILLs it: the kill lands mid-job on any machine, with
one contract that took the command and whose answer is lost.

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
_sent = itertools.count(1)
_send = bulk.send_command


async def _send_then_stall(*args: Any, **kwargs: Any) -> Any:
    answer = await _send(*args, **kwargs)
    if next(_sent) >= AFTER:
        MARKER.write_text(str(AFTER))
        await asyncio.Event().wait()  # until the SIGKILL
    return answer


if __name__ == "__main__":
    bulk.send_command = _send_then_stall
    asyncio.run(worker.main())
