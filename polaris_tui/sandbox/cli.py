"""``polaris-tui sandbox serve|reset`` handlers."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from polaris_tui.sandbox import Sandbox, default_sandbox_dir, reset


def cmd_serve(sandbox_dir: Path | None) -> int:
    """Start the sandbox, print one JSON line with its endpoints, serve until SIGTERM/SIGINT."""
    directory = Path(sandbox_dir) if sandbox_dir else default_sandbox_dir()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    sandbox = Sandbox(directory)
    try:
        try:
            endpoints = sandbox.start()
        except (OSError, RuntimeError, ValueError) as err:
            print(f"error: the sandbox could not start: {err}", file=sys.stderr)
            return 1
        if endpoints.edge_workers.startswith("unavailable"):
            print(f"warning: Worker hosts answer 503: {endpoints.edge_workers}", file=sys.stderr)
        sys.stdout.write(json.dumps(endpoints.serve_line()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def cmd_reset(sandbox_dir: Path | None) -> int:
    directory = Path(sandbox_dir) if sandbox_dir else default_sandbox_dir()
    try:
        reset(directory)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"sandbox reset: {directory}")
    return 0
