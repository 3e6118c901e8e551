"""The issue's done-when through the console script: `polaris-tui --sandbox ... apply/verify`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).parent / "polaris-tui"


def cli(sandbox_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "--sandbox", "--sandbox-dir", str(sandbox_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def test_apply_email_service_then_assets_then_verify(tmp_path: Path) -> None:
    box = tmp_path / "sandbox"
    email = cli(box, "apply", "email-service", "--yes")
    assert email.returncode == 0, email.stdout + email.stderr
    assert "email-service: DKIM published and verified by Cloudflare" in email.stdout
    assert "re-run `polaris-tui apply auth`" in email.stdout
    assert "DKIM published" in email.stderr  # progress goes to stderr

    first = cli(box, "apply", "assets", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "uploaded 4 file(s), 0 already current" in first.stdout
    second = cli(box, "apply", "assets", "--yes")
    assert second.returncode == 0 and "assets: nothing to do" in second.stdout

    verify = cli(box, "verify", "assets")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("PASS assets.public-") == 4
    plan = cli(box, "plan", "email-service")
    assert plan.returncode == 0, plan.stdout + plan.stderr
