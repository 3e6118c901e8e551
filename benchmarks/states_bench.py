"""Time to state: from launch until every sidebar icon shows its step's real state, in the TUI.

polaris-tui runs as a fresh process in a pseudo-terminal on a demo'd sandbox, as an operator
starts it; what it draws is replayed into a character grid (cursor moves and text, colours
dropped) and two moments are read off the grid: the first frame (the sidebar's last row is
drawn) and the moment every step row's icon is one of the state icons instead of "…". The
baseline, in the same run and alternating with it, is the first frame of a bare Textual app
with the same layout (``startup_bench.BARE_APP``): the figures are also given as ratios to it.
Each latency (POLARIS_SANDBOX_LATENCY_MS: every API, DNS, S3 and edge answer waits that long)
gets its own rounds; the first frame must come before any state.

    uv run python benchmarks/states_bench.py [--runs 5] [--latency-ms 0 200]
"""

from __future__ import annotations

import argparse
import codecs
import fcntl
import os
import pty
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from startup_bench import BARE_APP, FIRST_FRAME_MARKER, run_in_pty

from polaris_tui.steps.catalog import STEPS
from screens.app import STATE_ICONS

ROWS, COLS = 40, 120
SIDEBAR_COLS = 34  # screens/app.tcss: #sidebar-column width
CSI = re.compile(r"\x1b\[([0-9;?<=>]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


class Grid:
    """Enough of a terminal to know what is on screen: absolute and relative cursor moves,
    erases and text; everything else (colours, modes, titles) is dropped."""

    def __init__(self) -> None:
        self.cells = [[" "] * COLS for _ in range(ROWS)]
        self.row = self.col = 0
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decode.decode(data)
        cut = text.rfind("\x1b")
        if cut != -1 and not CSI.match(text, cut):  # an escape split across reads
            text, self._pending = text[:cut], text[cut:]
        else:
            self._pending = ""
        pos = 0
        for match in CSI.finditer(text):
            self._write(text[pos : match.start()])
            if match.group(2):
                self._control(match.group(1), match.group(2))
            pos = match.end()
        self._write(text[pos:])

    def _control(self, params: str, final: str) -> None:
        args = [int(p) if p.isdigit() else 0 for p in params.lstrip("?").split(";")]
        n = max(args[0], 1) if args else 1
        if final in "Hf":
            self.row = min(max((args[0] if args else 1) - 1, 0), ROWS - 1)
            self.col = min(max((args[1] if len(args) > 1 else 1) - 1, 0), COLS - 1)
        elif final == "A":
            self.row = max(self.row - n, 0)
        elif final == "B":
            self.row = min(self.row + n, ROWS - 1)
        elif final == "C":
            self.col = min(self.col + n, COLS - 1)
        elif final == "D":
            self.col = max(self.col - n, 0)
        elif final == "G":
            self.col = min(n - 1, COLS - 1)
        elif final == "K":
            self.cells[self.row][self.col :] = [" "] * (COLS - self.col)
        elif final == "J" and args and args[0] == 2:
            self.cells = [[" "] * COLS for _ in range(ROWS)]

    def _write(self, text: str) -> None:
        for ch in text:
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row = min(self.row + 1, ROWS - 1)
            elif ch >= " ":
                if self.col < COLS:
                    self.cells[self.row][self.col] = ch
                self.col += 1

    def lines(self) -> list[str]:
        return ["".join(row) for row in self.cells]


def states_shown(lines: list[str]) -> bool:
    """Every step's sidebar row starts with a state icon (``…`` until its state is read)."""
    icons = set(STATE_ICONS.values())
    sidebar = [line[:SIDEBAR_COLS] for line in lines]
    for info in STEPS:
        title = info.title[:12]
        row = next((s for s in sidebar if title in s), None)
        if row is None:
            return False
        at = row.index(title)
        if at < 2 or row[at - 2] not in icons:
            return False
    return True


def time_to_states(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> tuple[float, float]:
    """Seconds from spawn to the first frame and to every state on screen; then the process
    is stopped (its exit is not timed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    grid = Grid()
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    first = states = 0.0
    screen = b""
    try:
        while not states:
            if time.perf_counter() - started > timeout:
                shown = "\n".join(grid.lines())
                raise SystemExit(f"no states on screen within {timeout:g}s:\n{shown}")
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise SystemExit(f"{argv[0]} exited before showing every state")
            now = time.perf_counter()
            grid.feed(chunk)
            if not first:
                screen += chunk
                if FIRST_FRAME_MARKER in screen:
                    first = now
            if states_shown(grid.lines()):
                states = now
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return first - started, states - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 200])
    args = parser.parse_args()
    console_script = str(Path(sys.executable).parent / "polaris-tui")
    with tempfile.TemporaryDirectory(prefix="states-bench-") as tmp:
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "XDG_CONFIG_HOME": str(Path(tmp) / "config"),
            "XDG_STATE_HOME": str(Path(tmp) / "state"),
            "XDG_DATA_HOME": str(Path(tmp) / "data"),
        }
        sbx = str(Path(tmp) / "sbx")
        demo = subprocess.run(
            [console_script, "--sandbox", "--sandbox-dir", sbx, "demo"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if demo.returncode != 0:
            raise SystemExit(f"demo failed: {demo.stderr[-2000:]}")
        bare = [sys.executable, "-c", BARE_APP]
        ours = [console_script, "--sandbox", "--sandbox-dir", sbx]
        result: dict[str, dict[str, object]] = {}
        for latency in args.latency_ms:
            run_env = {**env, "POLARIS_SANDBOX_LATENCY_MS": str(latency)}
            bare_s, first_s, states_s = [], [], []
            for _ in range(args.runs):
                bare_s.append(run_in_pty(bare, env, FIRST_FRAME_MARKER))
                first, states = time_to_states(ours, run_env)
                if first > states:
                    raise SystemExit(f"states were drawn before the first frame ({latency} ms)")
                first_s.append(first)
                states_s.append(states)
            base = statistics.median(bare_s)
            result[f"{latency} ms"] = {
                "bare_first_frame_ms": round(base * 1000),
                "first_frame_ms": round(statistics.median(first_s) * 1000),
                "every_state_ms": round(statistics.median(states_s) * 1000),
                "every_state_ms_each": [round(s * 1000) for s in states_s],
                "every_state_over_bare_first_frame": round(statistics.median(states_s) / base, 2),
            }
    for latency, row in result.items():
        print(f"latency {latency}: {row}")


if __name__ == "__main__":
    main()
