"""One fixture decides the Temporal server: a fresh time-skipping test server for each test.

A fresh server per test keeps one test's sleeping workflows from holding up another's clock.
"""

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.temporal import start_time_skipping


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    yield env
    await env.shutdown()
