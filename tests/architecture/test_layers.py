"""The layers a newcomer can see, read from the imports (nothing is run).

- `billing/` is the functional core: the standard library and pydantic only.
- `workflows/` orchestrates: the core, its own messages and the small records activities answer
  with; never the CLI and services (`termshift/`), activities, or a module with SQLAlchemy code.
- The app imports no top-level script (`worker.py`, `starter.py` are entry points only).
- Tests import nothing from `bench/`.
- No product module is over 600 lines, except the workflow itself.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("billing", "workflows", "activities", "store", "termshift", "bench", "scripts")
MAX_LINES = 600
LONGER = {"workflows/contract.py"}
"""The workflow reads best whole: its run, its commands and their validators side by side."""

STDLIB = frozenset(__import__("sys").stdlib_module_names)


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module `path` imports, absolute, including imports inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def sqlalchemy_modules() -> set[str]:
    """Project modules that hold SQLAlchemy code."""
    found = set()
    for package in ("store", "activities", "termshift"):
        for path in modules(package):
            if any(top(name) in {"sqlalchemy", "alembic"} for name in imported(path)):
                relative = path.relative_to(ROOT).with_suffix("")
                found.add(".".join(part for part in relative.parts if part != "__init__"))
    return found


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_billing_is_the_pure_core() -> None:
    allowed = STDLIB | {"billing", "pydantic"}
    offending = {
        rel(path): sorted(name for name in imported(path) if top(name) not in allowed)
        for path in modules("billing")
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_workflow_code_imports_neither_services_nor_database_code() -> None:
    database = sqlalchemy_modules()
    assert "store.db" in database  # the check sees them
    offending = {}
    for path in modules("workflows"):
        bad = sorted(
            name
            for name in imported(path)
            if top(name) in {"termshift", "activities", "sqlalchemy", "alembic", "psycopg"}
            or any(name == module or name.startswith(f"{module}.") for module in database)
        )
        if bad:
            offending[rel(path)] = bad
    assert offending == {}


def test_the_app_imports_no_top_level_script() -> None:
    scripts = {path.stem for path in ROOT.glob("*.py")}
    assert {"worker", "starter"} <= scripts
    offending = {
        rel(path): sorted(name for name in imported(path) if name in scripts)
        for package in PRODUCT
        for path in modules(package)
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_tests_import_nothing_from_bench() -> None:
    offending = {
        rel(path): sorted(name for name in imported(path) if top(name) == "bench")
        for path in modules("tests")
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_activities_holds_only_activities_and_what_they_share() -> None:
    """A writer the CLI calls directly is a service (`termshift/services/`), not an activity."""
    offending = []
    for path in modules("activities"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defines_activity = any(
            isinstance(node, ast.Attribute) and node.attr == "defn" for node in ast.walk(tree)
        )
        if not defines_activity and path.name != "__init__.py":
            offending.append(rel(path))
    assert offending == []


@pytest.mark.parametrize("package", PRODUCT)
def test_no_module_is_over_600_lines(package: str) -> None:
    long = {
        rel(path): lines
        for path in modules(package)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and rel(path) not in LONGER
    }
    assert long == {}
