"""API requests and wall time of `status`, `plan all` and one TUI step-panel load.

Each runs as a fresh process of the command as typed (`polaris-tui --sandbox --sandbox-dir D
status --json`, `... plan all --json`), on a sandbox the demo has walked, at 0 ms and at
200 ms of latency on every sandbox response (POLARIS_SANDBOX_LATENCY_MS). The panel load is a
fresh process that opens the sandbox as the CLI does and loads the dns step's panel the way
the TUI's panel does (``runner.load_step``), without drawing it. Requests are counted on the
sandbox side: the lines its API appends to ``requests.jsonl`` during the run. Wall time
includes the process start and the sandbox's own start, the same for every variant. The
``status (warm)`` row separates the engine's own reads from those fixed costs: one process
runs ``runner.status`` once to warm up, then three more times; its wall column is the median
of those three calls, its requests the whole process's.

``--baseline REV`` runs the same commands from a git revision (exported into a temporary
folder and put first on PYTHONPATH, the same environment otherwise), in the same batch.

    uv run python benchmarks/engine_bench.py [--runs 3] [--baseline 5844cd0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "from screens.entry import main; main()"
PANEL_NEW = """
import sys
from pathlib import Path
from polaris_tui import runner
from polaris_tui.session import sandbox_context
from polaris_tui.sandbox import Sandbox
from polaris_tui.steps.registry import get_step
box = Sandbox(Path(sys.argv[1]))
with box as endpoints:
    view = runner.load_step(sandbox_context(box, endpoints), get_step("dns"))
    assert view.failure is None, view.failure
"""
PANEL_OLD = """
import sys
from pathlib import Path
from polaris_tui import runner
from polaris_tui.context import sandbox_context
from polaris_tui.sandbox import Sandbox
from polaris_tui.steps.registry import get_step
box = Sandbox(Path(sys.argv[1]))
with box as endpoints:
    ctx, step = sandbox_context(box, endpoints), get_step("dns")
    runner.step_status(ctx, step)
    step.inspect(ctx)
    runner.plan(ctx, step)
"""
"""The panel before ``runner.load_step`` and the session root existed (5844cd0 and older)."""
WARM_STATUS = """
import statistics, sys, time
from pathlib import Path
from polaris_tui import runner
from polaris_tui.session import sandbox_context
from polaris_tui.sandbox import Sandbox
box = Sandbox(Path(sys.argv[1]))
with box as endpoints:
    ctx = sandbox_context(box, endpoints)
    runner.status(ctx)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        runner.status(ctx)
        times.append(time.perf_counter() - started)
    print(statistics.median(times))
"""


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def run(argv: list[str], sandbox: Path, latency: int, pythonpath: str | None) -> tuple[int, float]:
    env = {**os.environ, "POLARIS_SANDBOX_LATENCY_MS": str(latency)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    log = sandbox / "requests.jsonl"
    before = count_lines(log)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    if argv[-2] == WARM_STATUS:  # the script times its own calls
        elapsed = float(proc.stdout.split()[-1])
    return count_lines(log) - before, elapsed


def export(rev: str, into: Path) -> str:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return str(into)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to compare with, e.g. 5844cd0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polaris-engine-bench-") as tmp:
        sandbox = Path(tmp) / "sandbox"
        # -P: the current folder must not shadow the baseline's code on sys.path.
        base = [sys.executable, "-P", "-c", CLI, "--sandbox", "--sandbox-dir", str(sandbox)]
        print("walking the demo once ...", file=sys.stderr)
        run([*base, "demo"], sandbox, 0, None)
        variants: list[tuple[str, str | None, str]] = [("this tree", None, PANEL_NEW)]
        if args.baseline:
            old = export(args.baseline, Path(tmp) / "base")
            has_session = (Path(old) / "polaris_tui" / "session.py").exists()
            variants.insert(0, (args.baseline, old, PANEL_NEW if has_session else PANEL_OLD))
        print(f"{'code':<10} {'command':<14} {'latency':>8} {'requests':>9} {'wall s':>8}")
        for label, path, panel in variants:
            commands = {
                "status": [*base, "status", "--json"],
                "plan all": [*base, "plan", "all", "--json"],
                "dns panel": [sys.executable, "-P", "-c", panel, str(sandbox)],
            }
            if panel is PANEL_NEW:  # a session root to open the sandbox with
                commands["status (warm)"] = [sys.executable, "-P", "-c", WARM_STATUS, str(sandbox)]
            for name, argv in commands.items():
                for latency in (0, 200):
                    results = [run(argv, sandbox, latency, path) for _ in range(args.runs)]
                    requests = sorted({r for r, _ in results})
                    wall = statistics.median(t for _, t in results)
                    shown = "/".join(map(str, requests))
                    print(f"{label:<10} {name:<14} {latency:>6}ms {shown:>9} {wall:>8.2f}")


if __name__ == "__main__":
    main()
