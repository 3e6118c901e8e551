"""Start-up: the first frame comes before any heavy import, and the benchmark hook exits 0."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from benchmarks.startup_bench import run_in_pty
from tests.conftest import VALID_CONFIG

HEAVY = ("cloudflare", "boto3", "botocore", "checkdmarc", "moto", "polaris_tui.sandbox", "dns")


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TERM": "xterm-256color",
        "POLARIS_TUI_EXIT_AFTER_FIRST_FRAME": "1",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def test_console_script_exits_zero_after_first_frame(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "polaris-tui"
    # run_in_pty raises SystemExit on a non-zero exit code
    run_in_pty([str(script), "--sandbox", "--sandbox-dir", str(tmp_path / "sbx")], _env(tmp_path))
    assert not (tmp_path / "sbx" / "config.toml").exists(), "the sandbox started before frame 1"


@pytest.mark.parametrize("mode", ["sandbox", "config"])
def test_no_heavy_import_before_first_frame(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "modules.txt"
    if mode == "sandbox":
        args = ["--sandbox", "--sandbox-dir", str(tmp_path / "sbx")]
    else:  # the operator's config is read before the first frame, for its theme
        (tmp_path / "config.toml").write_text(VALID_CONFIG, encoding="utf-8")
        args = ["--config", str(tmp_path / "config.toml")]
    code = (
        "import sys\n"
        "from screens.entry import main\n"
        f"sys.argv = ['polaris-tui', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"open({str(out)!r}, 'w').write('\\n'.join(sorted(sys.modules)))\n"
    )
    run_in_pty([sys.executable, "-c", code], _env(tmp_path))
    loaded = out.read_text().split()
    assert "textual.app" in loaded and "screens.app" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert heavy == []
    # the sidebar and first panel come from the catalog; step code loads after frame one
    steps = [m for m in loaded if m.startswith("polaris_tui.steps.")]
    assert steps == ["polaris_tui.steps.catalog"]
    # other screens (settings, rotation, help, ...) load when first opened
    screens = [m for m in loaded if m.startswith("screens.")]
    assert screens == [
        "screens.app",
        "screens.entry",
        "screens.preflight_panel",
        "screens.step_panel",
        "screens.widgets",
    ]
