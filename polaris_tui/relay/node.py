"""Node tooling for the shipped Worker: one locked `npm ci`, and the env wrangler runs in."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

WORKER_DIR = Path(__file__).parent / "worker"


class NodeMissingError(RuntimeError):
    """node/npm are needed for the workerd relay and the Worker tests."""


def node_env() -> dict[str, str]:
    """The caller's environment with wrangler's telemetry off."""
    return {**os.environ, "WRANGLER_SEND_METRICS": "false"}


def require_node() -> None:
    missing = [tool for tool in ("node", "npm", "npx") if shutil.which(tool) is None]
    if missing:
        raise NodeMissingError(
            f"{', '.join(missing)} not found on PATH: install Node.js 20 or newer (with npm)"
        )


def ensure_node_modules(worker_dir: Path = WORKER_DIR) -> None:
    """Run `npm ci` once (pinned by package-lock.json) if node_modules is missing."""
    require_node()
    marker = worker_dir / "node_modules" / ".package-lock.json"
    if marker.exists():
        return
    with open(worker_dir / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=worker_dir,
            env=node_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise NodeMissingError(
                f"npm ci failed in {worker_dir} (exit {result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
