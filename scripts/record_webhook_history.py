"""Record a webhook endpoint's delivery workflow history for the replay tests.

    .venv/bin/python scripts/record_webhook_history.py OUT.json [--per-run N]

Two contracts' six events (tests/store/test_webhooks.py) are delivered by `webhooks-crm` on a dev
server of its own to a receiver on 127.0.0.1 that answers 500 twice first; with `--per-run N` the
run continues as new after N deliveries. The first run's history is written as
`{"workflow_id", "history"}`, as tests/replay reads it (tests/histories/webhooks/).
"""

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store.db import Database  # noqa: E402
from store.repository import webhooks  # noqa: E402
from termshift.settings import Settings  # noqa: E402
from termshift.worker import build_webhook_worker  # noqa: E402
from tests.store.conftest import seed_catalog  # noqa: E402
from tests.store.test_webhooks import SECRET, two_contracts  # noqa: E402
from tests.support.temporal import start_dev_server  # noqa: E402
from tests.webhooks.receiver import receiving  # noqa: E402
from workflows.webhook_requests import EndpointDelivery  # noqa: E402
from workflows.webhooks import WebhookEndpointWorkflow, workflow_id  # noqa: E402


async def record(out: Path, per_run: int | None) -> None:
    database = Database(f"sqlite:///{tempfile.mkdtemp()}/billing.db")
    database.migrate()
    two_contracts(seed_catalog(database))
    config = EndpointDelivery(endpoint_id="crm", attempt_timeout=timedelta(seconds=5))
    if per_run is not None:
        config = EndpointDelivery.model_validate(
            {**config.model_dump(), "deliveries_per_run": per_run}
        )
    with receiving(SECRET, fail_first=2) as receiver:
        with database.session() as session:
            webhooks.add_endpoint(
                session, endpoint_id="crm", url=receiver.url, event_types=(), secret=SECRET,
                after_position=0,
            )  # fmt: skip
        env = await start_dev_server()
        try:
            settings = Settings(webhook_task_queue="record-webhooks")
            async with build_webhook_worker(
                env.client, database, settings=settings, strict_sandbox=True
            ):
                handle = await env.client.start_workflow(
                    WebhookEndpointWorkflow.run,
                    config,
                    id=workflow_id("crm"),
                    task_queue=settings.webhook_task_queue,
                )
                await receiver.wait_for(6, timeout=60)
                await asyncio.sleep(2)  # the workflow takes in the last completions
                first = env.client.get_workflow_handle(
                    handle.id, run_id=handle.first_execution_run_id
                )
                history = await first.fetch_history()
        finally:
            await env.shutdown()
    document = {"workflow_id": history.workflow_id, "history": history.to_json_dict()}
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{out}: {len(history.events)} events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-run", type=int, help="deliveries before it continues as new")
    arguments = parser.parse_args()
    asyncio.run(record(arguments.out, arguments.per_run))


if __name__ == "__main__":
    main()
