"""The sandbox's config belongs to the operator once seeded: edits survive a restart."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime_helpers import CLI, run_cli

NEW_IPV4 = "192.0.2.77"


def test_config_set_under_sandbox_survives_the_next_launch(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    first = run_cli(box, "apply", "dns", "--yes")
    assert first.returncode == 0, first.stderr
    saved = run_cli(box, "config", "set", "traefik_ipv4", NEW_IPV4)
    assert saved.returncode == 0 and "saved" in saved.stdout, saved.stderr

    shown = run_cli(box, "config", "show")  # a new process, a new sandbox start
    assert json.loads(shown.stdout)["traefik_ipv4"] == NEW_IPV4
    applied = run_cli(box, "apply", "dns", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert NEW_IPV4 in applied.stdout  # the records move to the operator's address

    plan = run_cli(box, "plan", "dns", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # nothing to revert
    assert json.loads(plan.stdout)["steps"][0]["changes"] == []
    assert json.loads(run_cli(box, "config", "show").stdout)["traefik_ipv4"] == NEW_IPV4


def test_config_with_sandbox_is_refused_with_the_way_out(tmp_path: Path) -> None:
    import subprocess

    mine = tmp_path / "mine.toml"
    proc = subprocess.run(
        [
            str(CLI),
            "--sandbox",
            "--sandbox-dir",
            str(tmp_path / "sbx"),
            "--config",
            str(mine),
            "status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "--config cannot be combined with --sandbox" in proc.stderr
    assert "--sandbox config set" in proc.stderr
    assert not (tmp_path / "sbx").exists() and not mine.exists()
