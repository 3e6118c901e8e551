"""What people expect of a CLI like terraform, gh or wrangler: --version, one JSON document on
stdout even on failure, prompts on stderr, a scrubbed debug log, shell completion."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from polaris_tui import debug_log, rotation, runner, troubleshooting
from polaris_tui.cli import SANDBOX_EXTRA, SANDBOX_MODULES, UsageError, error_document
from polaris_tui.errors import ConfigError, PermissionDenied
from polaris_tui.relay.node import NodeMissingError
from polaris_tui.steps.catalog import STEP_IDS
from polaris_tui.vault import VaultError
from tests.runtime_helpers import CLI, run_cli

ERROR_KEYS = {"title", "message", "guidance", "exit_code"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_version_prints_the_installed_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"polaris-tui {version('polaris-tui')}"


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["plan", "nope", "--json"], 2, "unknown step 'nope'"),
        (["plan", "--json"], 2, "required: step"),
        (["verify", "--json", "--bogus"], 2, "--bogus"),
        (["--config", "{missing}", "status", "--json"], 2, "config"),
        (["--config", "{bad}", "status", "--json"], 2, "account_id"),
    ],
)
def test_a_failed_json_run_prints_exactly_one_error_document(
    tmp_path: Path, argv: list[str], code: int, needle: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('domain = "example.com"\naccount_id = "xyz"\ntraefik_ipv4 = "1.2.3.4"\n')
    paths = {"{missing}": str(tmp_path / "none.toml"), "{bad}": str(bad)}
    proc = run(*(paths.get(a, a) for a in argv))
    assert proc.returncode == code
    document = json.loads(proc.stdout)  # the whole of stdout: one document, nothing else
    assert set(document) == {"error"}
    assert set(document["error"]) == ERROR_KEYS
    assert document["error"]["exit_code"] == code
    assert needle in document["error"]["message"]
    assert needle in proc.stderr  # the operator still reads it on the terminal


def _failure() -> runner.StepFailure:
    entry = troubleshooting.lookup("dns", values={}, status=403)
    assert entry is not None
    return runner.StepFailure(step="dns", message="403 Forbidden", entry=entry)


@pytest.mark.parametrize(
    ("exc", "code", "title"),
    [
        (UsageError("no command given"), 2, "Usage error"),
        (ConfigError("account_id", "xyz", "32 hex characters"), 2, "Invalid configuration"),
        (PermissionDenied("token lacks DNS Edit", status=403), 1, "Permission denied"),
        (VaultError("keyring backend fail.Keyring"), 1, "Keyring unusable"),
        (rotation.RotationError("no secret B to promote"), 1, "Rotation stopped"),
        (NodeMissingError("npm not found"), 1, "Node.js tooling missing"),
        (KeyboardInterrupt(), 130, "Interrupted"),
        (RuntimeError("boom"), 1, "Unexpected error"),
    ],
)
def test_every_error_class_maps_to_one_document(exc: BaseException, code: int, title: str) -> None:
    document = error_document(exc)
    assert set(document) >= ERROR_KEYS
    assert (document["exit_code"], document["title"]) == (code, title)
    assert document["message"]


def test_a_step_failure_carries_its_troubleshooting_as_guidance() -> None:
    failure = _failure()
    document = error_document(failure)
    assert document["exit_code"] == 1
    assert failure.entry is not None and document["guidance"] == failure.entry.text()


def test_the_confirmation_prompt_goes_to_stderr_and_the_plan_to_stdout(tmp_path: Path) -> None:
    """On a terminal, `apply` asks on stderr: stdout stays the data a pipe reads."""
    main, child = pty.openpty()
    try:
        os.write(main, b"n\n")
        proc = subprocess.run(
            [str(CLI), "--sandbox", "--sandbox-dir", str(tmp_path / "sb"), "apply", "dns"],
            stdin=child,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(child)
        os.close(main)
    assert "dns:" in proc.stdout and "change(s)" in proc.stdout  # the plan is data
    assert "Apply" not in proc.stdout and "[y/N]" not in proc.stdout
    assert "[y/N]" in proc.stderr


def _keyring(sandbox_dir: Path) -> dict[str, str]:
    stored = json.loads((sandbox_dir / "keyring.json").read_text())
    return {name: value for entries in stored.values() for name, value in entries.items()}


def test_the_debug_log_names_requests_and_never_a_secret(tmp_path: Path) -> None:
    """The demo puts the token, the R2 keys and three signing secrets through the SDKs."""
    log = tmp_path / "debug.log"
    proc = run_cli(tmp_path / "sb", "-v", "--log-file", str(log), "demo", "--json", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    text = log.read_text()
    secrets = _keyring(tmp_path / "sb")
    assert {"cloudflare-api-token", "r2-secret-access-key", "polaris-secret-a"} <= set(secrets)
    for name, value in secrets.items():
        assert len(value) >= 16 and value not in text, name
    lines = text.splitlines()
    assert any("PUT " in ln and "/workers/scripts/" in ln and "-> 200" in ln for ln in lines)
    assert any("PUT " in line and "polaris-logo-160.png -> 200" in line for line in lines)  # R2
    assert any(line.rstrip().endswith(" ms)") for line in lines)
    assert oct(log.stat().st_mode & 0o777) == oct(0o600)


def test_polaris_tui_log_debug_writes_to_stderr_with_retries(tmp_path: Path) -> None:
    proc = run_cli(
        tmp_path / "sb",
        "status",
        "--json",
        env={"POLARIS_TUI_LOG": "debug", "POLARIS_SANDBOX_FAULTS": "GET:/zones:503:1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["steps"]) == len(STEP_IDS)  # stdout: data only
    assert "GET http://127.0.0.1:" in proc.stderr and "/client/v4/zones" in proc.stderr
    assert "-> 503" in proc.stderr and "retry /zones in" in proc.stderr
    for name, value in _keyring(tmp_path / "sb").items():
        assert value not in proc.stderr, name


def test_a_bad_log_setting_is_a_usage_error() -> None:
    proc = run("status", env={"POLARIS_TUI_LOG": "verbose"})
    assert proc.returncode == 2
    assert "POLARIS_TUI_LOG='verbose'" in proc.stderr and "'debug'" in proc.stderr


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer abcdefghijklmnop0123",
        "{'authorization': 'Bearer abcdefghijklmnop0123'}",
        "GET https://x/y?X-Amz-Signature=abcdefghijklmnop0123&a=1",
        "Credential=AKIA, token=abcdefghijklmnop0123",
    ],
)
def test_credential_shapes_are_scrubbed(line: str) -> None:
    assert "abcdefghijklmnop0123" not in debug_log.scrub(line)


def _complete(line: str) -> list[str]:
    """Ask polaris-tui for completions the way the shell scripts do (argcomplete's protocol)."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"polaris-complete-{os.getpid()}"
    try:
        subprocess.run(
            [str(CLI)],
            env={
                **os.environ,
                "_ARGCOMPLETE": "1",
                "_ARGCOMPLETE_IFS": "\n",
                "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
                "COMP_LINE": line,
                "COMP_POINT": str(len(line)),
            },
            capture_output=True,
            timeout=60,
            check=True,
        )
        return out.read_text().split()
    finally:
        out.unlink(missing_ok=True)


def test_completion_offers_subcommands_and_step_ids() -> None:
    commands = _complete("polaris-tui ")
    assert {"status", "plan", "apply", "verify", "rotate", "demo", "completion"} <= set(commands)
    assert _complete("polaris-tui plan ") == [*STEP_IDS, "all"]
    assert _complete("polaris-tui apply em") == ["email-service"]


def test_the_bash_script_completes_through_bash(tmp_path: Path) -> None:
    script = tmp_path / "polaris-tui.bash"
    script.write_text(run("completion", "bash").stdout)
    probe = (
        f'source "{script}"; COMP_WORDS=(polaris-tui verify d); COMP_CWORD=2; '
        'COMP_LINE="polaris-tui verify d"; COMP_POINT=${#COMP_LINE}; '
        '_python_argcomplete polaris-tui; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{CLI.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.stdout.split() == ["dns", "deploy"], proc.stderr


@pytest.mark.parametrize(("shell", "needle"), [("zsh", "compdef"), ("fish", "complete")])
def test_zsh_and_fish_scripts_register_polaris_tui(shell: str, needle: str) -> None:
    proc = run("completion", shell)
    assert proc.returncode == 0
    assert needle in proc.stdout and "polaris-tui" in proc.stdout


def test_completion_refuses_an_unknown_shell() -> None:
    proc = run("completion", "tcsh", "--json")
    assert proc.returncode == 2
    assert "invalid choice" in json.loads(proc.stdout)["error"]["message"]


def test_the_sandbox_check_knows_every_package_of_the_extra() -> None:
    """Each requirement of the extra (and of moto's s3 extra) provides a module the check
    looks for, and each module it looks for comes from one of them."""
    from importlib.metadata import packages_distributions, requires

    def name(requirement: str) -> str:
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match is not None
        return match.group(0).lower().replace("_", "-")

    def extra(dist: str, wanted: str) -> set[str]:
        marker = re.compile(rf"""extra\s*==\s*["']{wanted}["']""")
        return {name(r) for r in requires(dist) or () if marker.search(r)}

    wanted = extra("polaris-tui", SANDBOX_EXTRA) | extra("moto", "s3")
    providers = packages_distributions()
    provided = {
        module: {d.lower().replace("_", "-") for d in providers.get(module, [])}
        for module in SANDBOX_MODULES
    }
    for module, dists in provided.items():
        assert dists & wanted, (module, dists)
    covered = set().union(*provided.values())
    assert wanted <= covered, wanted - covered


def test_a_ticking_wait_prints_every_ten_seconds_not_every_second(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from polaris_tui.cli import ProgressLines

    now = [0.0]
    lines = ProgressLines(clock=lambda: now[0])
    for second in range(25):
        now[0] = float(second)
        lines(f"waiting for DKIM ({second} s of 600 s)", 0.5)
    lines("DKIM verified", 1.0)
    printed = capsys.readouterr().err.splitlines()
    assert printed == [
        "  ..  50% waiting for DKIM (0 s of 600 s)",
        "  ..  50% waiting for DKIM (10 s of 600 s)",
        "  ..  50% waiting for DKIM (20 s of 600 s)",
        "  .. 100% DKIM verified",
    ]
    ProgressLines(quiet=True)("anything", None)
    assert capsys.readouterr().err == ""


def test_progress_lines_name_their_step_and_tick_per_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Steps applied at the same time print into one stream: each line says whose it is, and
    one step's ticking wait does not silence another's."""
    from polaris_tui.cli import ProgressLines

    now = [0.0]
    dkim = ProgressLines(step="email-service", clock=lambda: now[0])
    domain = ProgressLines(step="assets", clock=lambda: now[0])
    for second in range(3):
        now[0] = float(second)
        dkim(f"waiting for DKIM ({second} s of 600 s)", 0.5)
        domain(f"waiting for the domain ({second} s of 120 s)", None)
    assert capsys.readouterr().err.splitlines() == [
        "  .. email-service:  50% waiting for DKIM (0 s of 600 s)",
        "  .. assets: waiting for the domain (0 s of 120 s)",
    ]
