"""The CLI contract other checks rely on: names, JSON shapes, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from polaris_tui import cli
from polaris_tui.steps.catalog import STEP_IDS

CLI = Path(sys.executable).parent / "polaris-tui"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, input=stdin, check=False, timeout=60
    )


def test_help_lists_every_command() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for command in (
        "status",
        "plan",
        "apply",
        "verify",
        "rotate",
        "relay",
        "send-test",
        "sandbox",
        "demo",
        "config",
        "secrets",
        "history",
    ):
        assert command in proc.stdout


@pytest.mark.parametrize(
    "argv", [[], ["--sandbox"], ["--sandbox", "--sandbox-dir", "d"], ["--config=c.toml"]]
)
def test_tui_arguments_parse_as_the_full_parser_would(argv: list[str]) -> None:
    assert cli._tui_args(argv) == cli.build_parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv", [["-h"], ["status"], ["--sand"], ["--con", "c.toml"], ["--config"], ["--sandbox=1"]]
)
def test_anything_else_is_left_to_the_full_parser(argv: list[str]) -> None:
    """Help, commands, abbreviations and mistakes get the full parser's answer and usage."""
    assert cli._tui_args(argv) is None


def test_status_json_lists_the_eight_steps_in_order(config_file: Path) -> None:
    proc = run("--config", str(config_file), "status", "--json")
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout)["steps"]
    assert [s["id"] for s in steps] == list(STEP_IDS)
    assert STEP_IDS == ("dns", "auth", "email-service", "assets", "kv", "secret", "deploy", "route")
    for s in steps:
        assert set(s) == {"id", "title", "state", "summary"}
        assert s["state"] in {"done", "pending", "drift", "failed", "blocked"}


def test_config_errors_exit_2_and_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('domain = "example.com"\naccount_id = "xyz"\ntraefik_ipv4 = "1.2.3.4"\n')
    proc = run("--config", str(bad), "status")
    assert proc.returncode == 2
    assert "account_id" in proc.stderr and "'xyz'" in proc.stderr


def test_missing_config_says_how_to_create_it(tmp_path: Path) -> None:
    proc = run("--config", str(tmp_path / "none.toml"), "status")
    assert proc.returncode == 2
    assert "config set domain" in proc.stderr


def test_usage_errors_exit_2(config_file: Path) -> None:
    assert run("--config", str(config_file), "plan", "nosuchstep").returncode == 2
    assert run("rotate").returncode == 2  # one of --graceful/--promote/--emergency is required
    assert run("frobnicate").returncode == 2


def test_config_set_and_show(config_file: Path) -> None:
    assert (
        run("--config", str(config_file), "config", "set", "rate_limit_max", "20").returncode == 0
    )
    shown = json.loads(run("--config", str(config_file), "config", "show").stdout)
    assert shown["rate_limit_max"] == 20
    assert shown["zone"] == "example.com"
    assert run("--config", str(config_file), "config", "path").stdout.strip() == str(config_file)


def test_config_path_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLARIS_TUI_CONFIG", str(tmp_path / "env.toml"))
    assert run("config", "path").stdout.strip() == str(tmp_path / "env.toml")


def test_readme_documents_every_config_field() -> None:
    from polaris_tui.config import FIELDS

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for spec in FIELDS:
        assert f"| `{spec.name}` |" in readme, spec.name
    assert "uv run polaris-tui --sandbox" in readme and "uv run pytest" in readme
