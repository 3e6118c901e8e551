"""The shipped Worker's own tests (node --test under miniflare/workerd), run from pytest."""

from __future__ import annotations

import os
import subprocess

import pytest

from polaris_tui.relay.node import WORKER_DIR, NodeMissingError, ensure_node_modules, node_env


def test_worker_passes_node_tests_in_workerd() -> None:
    try:
        tools = ensure_node_modules()
    except NodeMissingError as error:
        where = "CI (CI=true)" if os.environ.get("CI") == "true" else "this machine"
        pytest.fail(f"the Worker tests need Node.js on {where}: {error}", pytrace=False)
    # The tests import miniflare from beside the Worker: in a checkout, point there.
    link = WORKER_DIR / "node_modules"
    if not link.exists():
        link.symlink_to(tools / "node_modules", target_is_directory=True)
    result = subprocess.run(
        ["node", "--test", "test/"],
        cwd=WORKER_DIR,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = [line for line in result.stdout.splitlines() if line.startswith(("# pass", "# fail"))]
    assert result.returncode == 0, f"node --test failed:\n{result.stdout[-20000:]}\n{result.stderr}"
    assert "# fail 0" in summary and "# pass 0" not in summary, summary
