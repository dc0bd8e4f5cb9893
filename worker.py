"""The Termshift worker's entry point (`termshift.worker` builds and runs it).

python worker.py            # connects with Temporal's environment configuration
"""

import asyncio

from termshift.worker import main

if __name__ == "__main__":
    asyncio.run(main())
