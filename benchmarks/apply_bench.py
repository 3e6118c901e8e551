"""`apply all` as the operator types it: the step graph against the sequential baseline, in one run.

Each round runs fresh processes of ``polaris-tui --sandbox --sandbox-dir <fresh dir> apply all
--yes`` for two trees: this checkout, and a baseline commit (default 67a4c25, one step after
another) exported with ``git archive`` into a temporary folder. Both run through this
checkout's console script and environment (the baseline's dependencies are the same); the
baseline is put first on PYTHONPATH so its code is the one imported. Each process gets its
own empty sandbox folder and config/state/data folders, so every run applies everything.

The sandbox imposes the waits Cloudflare imposes: ``POLARIS_SANDBOX_ACTIVATION_MS`` delays the
R2 custom domain's activation (assets) and Email Sending's DKIM verification (email-service).
The sandbox's authoritative DNS serves a record as soon as it is written, so there is no
propagation delay to set. The critical path is the longest chain of those waits through the
graph the catalog declares (each step's wait plus the longest chain before it); assets and
email-service lie on different branches, so it is one activation wait, not two.

A fresh ``history --json`` (start the process and the sandbox, read the journal) is timed too:
the fixed cost every command pays, which is in both walls but not in the critical path.

Prints, per activation wait, the median wall of each tree and wall / critical path, with the
load average before and after.

    uv run python benchmarks/apply_bench.py [--activation-ms 3000 10000 30000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polaris_tui.steps.catalog import dependencies, topological

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("polaris-tui")
WAITS = ("assets", "email-service")
"""The steps whose apply waits for POLARIS_SANDBOX_ACTIVATION_MS (custom domain, DKIM)."""


def critical_path(waits: dict[str, float]) -> float:
    """The longest sum of waits along any chain of the declared graph."""
    graph = dependencies()
    longest: dict[str, float] = {}
    for step in topological(graph):
        longest[step] = waits.get(step, 0.0) + max((longest[d] for d in graph[step]), default=0.0)
    return max(longest.values())


def baseline_tree(commit: str, into: Path) -> Path:
    """The baseline commit's files (no .git), for PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def timed(tree: Path | None, args: list[str], activation_ms: int, scratch: Path) -> float:
    """Wall seconds of one fresh process on a fresh sandbox; it must exit 0."""
    run_dir = Path(tempfile.mkdtemp(dir=scratch))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["POLARIS_SANDBOX_ACTIVATION_MS"] = str(activation_ms)
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        env[name] = str(Path(tempfile.mkdtemp(dir=run_dir)))
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    argv = [str(CLI), "--sandbox", "--sandbox-dir", str(run_dir / "sbx"), *args]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=run_dir, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} ({tree or 'branch'}) exited {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )
    shutil.rmtree(run_dir, ignore_errors=True)
    return wall


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--activation-ms", type=int, nargs="+", default=[3000, 10000, 30000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="67a4c25")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="apply-bench-"))
    try:
        base = baseline_tree(args.baseline, Path(tempfile.mkdtemp(dir=scratch)))
        print(f"load average before: {loadavg()}")
        fixed = statistics.median(
            timed(None, ["history", "--json"], 0, scratch) for _ in range(args.rounds)
        )
        print(f"fresh `history --json` (process + sandbox start): {fixed:.2f} s")
        for ms in args.activation_ms:
            path = critical_path(dict.fromkeys(WAITS, ms / 1000))
            walls: dict[str, list[float]] = {"baseline": [], "graph": []}
            for _ in range(args.rounds):  # interleaved, so both see the same machine
                walls["baseline"].append(timed(base, ["apply", "all", "--yes"], ms, scratch))
                walls["graph"].append(timed(None, ["apply", "all", "--yes"], ms, scratch))
            print(f"\nactivation {ms} ms: critical path of the waits {path:.2f} s")
            for name, seen in walls.items():
                wall = statistics.median(seen)
                shown = ", ".join(f"{w:.2f}" for w in seen)
                print(
                    f"  {name:<8} wall {wall:6.2f} s  ({shown})  wall/critical path "
                    f"{wall / path:.2f}x"
                )
            ratio = statistics.median(walls["baseline"]) / statistics.median(walls["graph"])
            print(f"  baseline / graph: {ratio:.2f}x")
        print(f"\nload average after: {loadavg()}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
