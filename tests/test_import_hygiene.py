"""The engine must stay UI-free and import-light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import importlib, pkgutil, sys
import polaris_tui
for m in pkgutil.walk_packages(polaris_tui.__path__, "polaris_tui."):
    importlib.import_module(m.name)
bad = sorted(n for n in sys.modules if n == "textual" or n.startswith(("textual.", "screens")))
print(",".join(bad))
"""


def test_engine_never_imports_textual() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == ""


def test_cli_start_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys; import screens.entry, polaris_tui.cli; "
        "print(','.join(sorted(m for m in ('cloudflare','boto3','checkdmarc','textual','moto',"
        "'dns','httpx') if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_import_linter_contracts_are_kept() -> None:
    """Every contract in pyproject.toml (engine/UI, vendors, sandbox, layers, cycles) holds:
    lint-imports exits 0 only when none is broken and no ignore_imports entry is stale."""
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
