"""verify, preflight and status import their adapters' modules before fanning out to their
threads, once per process however many callers ask at the same moment.

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
        if threading.current_thread().name.startswith(sys.argv[3]):
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


@pytest.mark.parametrize(
    ("command", "threads"),
    [
        ("verify", "verify"),
        ("preflight", "preflight"),
        ("status", "observe"),  # the reads the TUI's sidebar makes, one pool thread per step
    ],
)
def test_no_module_is_first_imported_from_a_check_thread(
    demoed: Path, command: str, threads: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(demoed), command, threads],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stdout
    assert result["imported"] == [], result["imported"][:40]


STATUS_IMPORTS = """
import json, sys
from polaris_tui import cli

code = cli.main(["--sandbox", "--sandbox-dir", sys.argv[1], "status", "--json"])
print(json.dumps({"code": code, "checkdmarc": sorted(m for m in sys.modules if "checkdmarc" in m)}))
"""


def test_status_reads_leave_the_checks_own_libraries_out(demoed: Path) -> None:
    """checkdmarc validates SPF and DMARC in verify alone: a status (the TUI's sidebar makes
    the same reads) does not import it."""
    proc = subprocess.run(
        [sys.executable, "-c", STATUS_IMPORTS, str(demoed)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stdout
    assert result["checkdmarc"] == []


CONCURRENT_CALLERS = """
import json, sys, threading

importers = set()


class Recorder:
    def find_spec(self, name, path=None, target=None):
        importers.add(threading.current_thread().name)
        return None


from polaris_tui import adapters

sys.meta_path.insert(0, Recorder())
start = threading.Barrier(3)


def caller():
    start.wait()
    adapters.preload()
    missing = [m for m in adapters.SDK_MODULES if m not in sys.modules]
    assert not missing, missing  # nobody returns before every module is in


threads = [threading.Thread(target=caller, name=f"caller-{i}") for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(sorted(importers)))
"""


def test_callers_at_the_same_moment_wait_for_one_import() -> None:
    """The TUI's statuses, first panel and preflight each preload as they start, together:
    one of them imports, the others wait for it instead of importing beside it."""
    proc = subprocess.run(
        [sys.executable, "-c", CONCURRENT_CALLERS],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    importers = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(importers) == 1, importers


ONE_GROUP_IN = """
import json, sys, threading
from polaris_tui import adapters

adapters.preload()  # the reads are in
entered, release = threading.Event(), threading.Event()


class Slow:
    def find_spec(self, name, path=None, target=None):
        if name == "cloudflare.resources.accounts":  # one of preflight's extras
            entered.set()
            release.wait(10)
        return None


sys.meta_path.insert(0, Slow())
other = threading.Thread(target=adapters.preload, args=("preflight",))
other.start()
assert entered.wait(30), "preflight's extras were already imported"
adapters.preload()  # needs only the reads
print(json.dumps({"preflight_still_importing": other.is_alive()}))
release.set()
other.join()
"""


def test_a_caller_whose_modules_are_in_does_not_wait_for_another_groups() -> None:
    """The TUI's statuses need only the reads; preflight's own imports (its extras) must not
    hold them up: they once did, for 0.3-0.6 s of every launch."""
    proc = subprocess.run(
        [sys.executable, "-c", ONE_GROUP_IN], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"preflight_still_importing": True}
