"""README's command blocks run as written, in order, on a fresh `scripts/up`.

The operator's part of the README — "Quick start" (its `scripts/up`), "Using it" with its
subsections, and "Messages" — is run exactly as printed: each ```bash block in one `bash -e`, with
the virtual environment on PATH (as "Using it" asks) and `TEMPORAL_ADDRESS` pointing at the
stack this test started with `scripts/up` on free ports and a fresh data directory. The CSV
example is checked by `contracts import --check`. The blocks of "Production", "Temporal Cloud" and
"Benchmark" need Docker, a Cloud account or many minutes; `tests/deploy/` and the benchmark's own
tests cover them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import free_ports, running_stack

pytestmark = pytest.mark.devserver

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RUN_SECTIONS = ("Quick start", "Using it", "Messages: scripting the workflow directly")
"""Top-level sections whose blocks an operator runs against the embedded stack."""
BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def sections(text: str) -> dict[str, str]:
    """README's top-level (`## `) sections by title."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def blocks(lang: str) -> list[str]:
    found = sections(README.read_text(encoding="utf-8"))
    missing = [title for title in RUN_SECTIONS if title not in found]
    assert not missing, f"README has no section {missing}"
    return [
        match["body"]
        for title in RUN_SECTIONS
        for match in BLOCK.finditer(found[title])
        if match["lang"] == lang
    ]


def test_the_runnable_sections_hold_the_blocks_this_test_runs() -> None:
    commands = blocks("bash")
    assert commands[0].splitlines()[0].startswith("scripts/up")
    assert len(commands) >= 4, commands
    assert len(blocks("csv")) == 1


def test_readme_blocks_run_as_written_on_a_fresh_stack(tmp_path: Path) -> None:
    quick_start, *operator_blocks = blocks("bash")
    assert "scripts/up" in quick_start
    assert "scripts/test" in quick_start  # what CI runs
    port, ui_port = free_ports()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "TERMSHIFT_DATA_DIR": str(data_dir),
        "COLUMNS": "120",
    }
    env.pop("TERMSHIFT_DATABASE_URL", None)
    with running_stack(data_dir, port, ui_port, command=("bash", str(ROOT / "scripts" / "up"))):
        for number, block in enumerate(operator_blocks, start=1):
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            shown = f"block {number}:\n{block}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            assert done.returncode == 0, shown
            for wrong in ("Refused:", "Failed:", "Traceback"):
                assert wrong not in done.stdout + done.stderr, shown

        # The import example is valid once the block before it added its customers and plans.
        [csv] = blocks("csv")
        example = tmp_path / "contracts.csv"
        example.write_text(csv, encoding="utf-8")
        checked = subprocess.run(
            [sys.executable, "starter.py", "contracts", "import", str(example), "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert checked.returncode == 0, (checked.stdout, checked.stderr)
