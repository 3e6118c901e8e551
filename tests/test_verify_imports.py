"""verify and preflight import their adapters' modules before fanning out to their threads.

Modules first imported from several threads at once can deadlock Python's per-module import
locks (seen once in ~92 runs: "deadlock detected by _ModuleLock('cloudflare.types.email_routi…')").
When it happens depends on thread timing, so the test checks the cause instead, which does
not: in a fresh process, no module at all is first imported from one of their pool threads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime_helpers import run_cli

PROBE = """
import json, sys, threading

first = []


class Recorder:
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread().name.startswith(sys.argv[2]):
            first.append(name)
        return None


sys.meta_path.insert(0, Recorder())
from polaris_tui import cli

code = cli.main(["--sandbox", "--sandbox-dir", sys.argv[1], sys.argv[2], "--json"])
print(json.dumps({"code": code, "imported": sorted(set(first) & set(sys.modules))}))
"""


@pytest.fixture(scope="module")
def demoed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    box = tmp_path_factory.mktemp("imports") / "sbx"
    assert run_cli(box, "demo", timeout=600).returncode == 0  # every check has something to see
    return box


@pytest.mark.parametrize("command", ["verify", "preflight"])
def test_no_module_is_first_imported_from_a_check_thread(demoed: Path, command: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(demoed), command],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stdout
    assert result["imported"] == [], result["imported"][:40]
