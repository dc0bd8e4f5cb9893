# shellcheck shell=bash
# Sourced by scripts/up and scripts/test: makes sure .venv exists and matches pyproject.toml.
#
#   ROOT       the repository root
#   VENV       $ROOT/.venv
#   ensure_venv  creates .venv (python3.11, else python3 >= 3.11) when it is missing or broken,
#                and runs `pip install -e '.[dev]'` when pyproject.toml is newer than the stamp
#                file .venv/.termshift-installed (or the stamp is missing).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.termshift-installed"

_venv_python_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

_pick_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "scripts: Python 3.11 or newer is needed (tried python3.11 and python3)." >&2
    return 1
}

ensure_venv() {
    if ! _venv_python_ok; then
        local python
        python="$(_pick_python)" || return 1
        echo "==> Creating .venv with $python"
        "$python" -m venv --clear "$VENV" || return 1
        rm -f "$STAMP"
    fi
    if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
        echo "==> Installing the project into .venv (pip install -e '.[dev]')"
        (cd "$ROOT" && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e '.[dev]') || {
            echo "scripts: pip install -e '.[dev]' failed." >&2
            return 1
        }
        touch "$STAMP"
    fi
}
