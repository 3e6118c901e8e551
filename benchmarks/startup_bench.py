"""Start-up to first frame: polaris-tui versus a bare Textual app with the same layout.

Both run as fresh processes in a pseudo-terminal, alternately, in one batch; the time is from
spawning the process until its first frame appears on the terminal (read from the pty).
Each exits right after that frame (polaris-tui through POLARIS_TUI_EXIT_AFTER_FIRST_FRAME=1,
in sandbox mode, so it also proves the sandbox is not started before the first frame); exit
time is not counted, since Textual's input thread makes it vary by up to 0.1 s. Bytecode caches
are allowed (as for an installed package) and a warm-up run of each comes first. Prints the
median wall time of each and the ratio; the target is <= 1.2.

    uv run python benchmarks/startup_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

BARE_APP = """
from textual.app import App
from textual.containers import Horizontal
from textual.widgets import ContentSwitcher, Footer, Header, Label, ListItem, ListView, Static

class Bare(App):
    def compose(self):
        yield Header()
        yield Static("SANDBOX")
        with Horizontal():
            items = [f"step {i}" for i in range(8)] + ["Verify all", "History"]
            yield ListView(*(ListItem(Label(text)) for text in items))
            with ContentSwitcher(initial="p0"):
                yield from (Static(f"panel {i}", id=f"p{i}") for i in range(10))
        yield Footer()

    def on_ready(self):
        self.exit(0)

Bare().run()
"""


# The sidebar's last row: both apps draw it in their first frame, at the same place.
FIRST_FRAME_MARKER = b"History"


def run_in_pty(argv: list[str], env: dict[str, str], marker: bytes | None = None) -> float:
    """Run one process in a 120x40 pseudo-terminal and return seconds until ``marker`` first
    appears in what it draws (its first frame), or until it exits when there is no marker."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen: list[float] = []

    def drain() -> None:
        screen = b""
        try:
            while chunk := os.read(master, 65536):
                if marker is not None and not seen:
                    screen += chunk
                    if marker in screen:
                        seen.append(time.perf_counter())
        except OSError:
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    started = time.perf_counter()
    proc = subprocess.run(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, check=False, timeout=60
    )
    ended = time.perf_counter()
    os.close(slave)
    reader.join(timeout=5)
    os.close(master)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {proc.returncode}")
    if marker is None:
        return ended - started
    if not seen:
        raise SystemExit(f"{argv[0]} never drew {marker!r}")
    return seen[0] - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    console_script = Path(sys.executable).parent / "polaris-tui"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "TERM": "xterm-256color",
            "POLARIS_TUI_EXIT_AFTER_FIRST_FRAME": "1",
            "XDG_STATE_HOME": str(Path(tmp) / "state"),
        }
        bare = [sys.executable, "-c", BARE_APP]
        ours = [str(console_script), "--sandbox", "--sandbox-dir", str(Path(tmp) / "sbx")]
        # warm-up: fills the OS file cache and writes the bytecode caches an installed
        # package would have (so neither side pays for compiling its sources)
        run_in_pty(bare, env)
        run_in_pty(ours, env)
        times: dict[str, list[float]] = {"bare": [], "polaris-tui": []}
        for _ in range(args.runs):
            times["bare"].append(run_in_pty(bare, env, FIRST_FRAME_MARKER))
            times["polaris-tui"].append(run_in_pty(ours, env, FIRST_FRAME_MARKER))
    for name, values in times.items():
        print(
            f"{name:<12} first frame: median {statistics.median(values) * 1000:4.0f} ms, "
            f"min {min(values) * 1000:4.0f} ms over {args.runs} runs"
        )
    median_ratio = statistics.median(times["polaris-tui"]) / statistics.median(times["bare"])
    min_ratio = min(times["polaris-tui"]) / min(times["bare"])
    print(f"ratio (median) {median_ratio:.2f}, ratio (min) {min_ratio:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
