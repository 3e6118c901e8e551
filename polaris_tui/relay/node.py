"""Node tooling for the shipped Worker: one locked `npm ci`, and the env wrangler runs in.

The npm packages (wrangler, miniflare and the workerd they bring) go into the user cache dir,
in a folder named after package-lock.json's hash: never into the installed package, which
may be read-only, and a new lock gets a fresh folder instead of a half-updated one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

WORKER_DIR = Path(__file__).parent / "worker"
MANIFESTS = ("package.json", "package-lock.json")


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


def tools_dir() -> Path:
    """Where the pinned npm packages of this version of the Worker are (or will be)."""
    import platformdirs

    from polaris_tui.paths import APP_NAME

    digest = hashlib.sha256((WORKER_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "worker-npm" / digest


def node_bin(tools: Path, name: str) -> Path:
    """An installed npm package's command (``.cmd`` on Windows)."""
    return tools / "node_modules" / ".bin" / (f"{name}.cmd" if sys.platform == "win32" else name)


def ensure_node_modules() -> Path:
    """Run `npm ci` once (pinned by package-lock.json) and return the folder it ran in.

    Concurrent callers (parallel tests, the TUI and a CLI run) wait on one file lock; the
    lock is filelock's, so this works the same on Windows, macOS and Linux.
    """
    require_node()
    tools = tools_dir()
    marker = tools / "node_modules" / ".package-lock.json"
    if marker.exists():
        return tools
    from filelock import FileLock

    tools.mkdir(parents=True, exist_ok=True)
    with FileLock(tools / ".npm-install.lock"):
        if marker.exists():
            return tools
        for name in MANIFESTS:
            shutil.copyfile(WORKER_DIR / name, tools / name)
        result = subprocess.run(
            [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund"],
            cwd=tools,
            env=node_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise NodeMissingError(
                f"npm ci failed in {tools} (exit {result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
    return tools
