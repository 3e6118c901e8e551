"""app_secret_command: the new signing secret reaches the app on the command's stdin and
nowhere else (argv, environment, files), its output is bounded and scrubbed, and a failed
hand-off stops the rotation where running it again, or finishing by hand, completes it."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from polaris_tui import rotation
from polaris_tui.app_handoff import MASK, OUTPUT_LIMIT, hand_off
from polaris_tui.blocking import run_blocking
from polaris_tui.config import load_config
from polaris_tui.context import Context
from polaris_tui.demo import send
from polaris_tui.sandbox import Sandbox
from polaris_tui.session import sandbox_vault
from polaris_tui.steps.secret import (
    BINDING_A,
    BINDING_B,
    ROTATION_KEY,
    VAULT_A,
    VAULT_B,
    generate_secret,
    worker_secret_names,
)
from tests.runtime_helpers import RELAY_STEPS, run_cli

pytest_plugins = ["tests.runtime_fixtures"]

# The stand-in for the app's deploy hook: says who it is, reads the secret from stdin, waits
# until the test has looked at its /proc entries, then stores what it read.
RECEIVER = """\
import os, pathlib, sys, time
out = pathlib.Path(sys.argv[1])
(out / "pids.tmp").write_text(f"{os.getpid()} {os.getppid()}")
(out / "pids.tmp").rename(out / "pids")
value = sys.stdin.read()
deadline = time.monotonic() + 60
while not (out / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
(out / "received").write_text(value)
print("app updated")
"""


def with_command(ctx: Context, command: str | None, timeout: int = 60) -> Context:
    config = dataclasses.replace(
        ctx.config, app_secret_command=command, app_secret_timeout_seconds=timeout
    )
    return dataclasses.replace(ctx, config=config)


def files_holding(value: str, roots: list[Path], since: float) -> set[Path]:
    """Regular files under ``roots`` changed since ``since`` whose bytes contain ``value``."""
    needle, found = value.encode(), set()
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder, name)
                try:
                    info = path.lstat()
                    if not stat.S_ISREG(info.st_mode) or info.st_mtime < since:
                        continue
                    if info.st_size < 8 << 20 and needle in path.read_bytes():
                        found.add(path.resolve())
                except OSError:  # another user's file, or gone meanwhile
                    continue
    return found


def wait_for(path: Path, running: object) -> str:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert not running.done(), running.result()  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "app_secret_command never started"
        time.sleep(0.02)
    return path.read_text()


def test_the_command_reads_the_secret_from_stdin_and_nowhere_else(
    sending_ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = time.time() - 1
    home, tmp, app = tmp_path / "home", tmp_path / "tmp", tmp_path / "app"
    for folder in (home, tmp, app):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    (app / "receive.py").write_text(RECEIVER)
    ctx = with_command(sending_ctx, f"{sys.executable} {app / 'receive.py'} {app}")

    seen: dict[str, bytes] = {}
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_blocking, rotation.graceful(ctx))
        pids = {int(p) for p in wait_for(app / "pids", running).split()} - {os.getpid()}
        for pid in pids:  # the script, and the shell that started it, while they run
            for entry in ("cmdline", "environ"):
                seen[f"{pid}/{entry}"] = Path(f"/proc/{pid}/{entry}").read_bytes()
        (app / "go").touch()
        report = running.result(timeout=120)

    secret = ctx.vault.get(VAULT_B)
    assert secret and report.ok, report
    assert report.app_secret is not None and report.app_secret.ok
    assert report.app_secret.stdout == "app updated\n"
    assert (app / "received").read_text() == secret + "\n"
    assert any(b"receive.py" in data for name, data in seen.items() if name.endswith("cmdline"))
    assert any(name.endswith("environ") and data for name, data in seen.items())
    assert [name for name, data in seen.items() if secret.encode() in data] == []
    assert ctx.state.get(ROTATION_KEY)["stage"] == "done"
    assert "gave the app the new secret" in report.next_actions[0]

    assert ctx.sandbox is not None
    allowed = {
        (app / "received").resolve(),
        (Path(ctx.sandbox.directory) / "keyring.json").resolve(),
    }
    roots = [tmp_path, Path(ctx.sandbox.directory), Path(tempfile.gettempdir()), Path("/tmp")]
    assert files_holding(secret, roots, since) == allowed


async def test_a_failing_command_is_scrubbed_and_graceful_stops_where_it_can_resume(
    relay_ctx: Context, tmp_path: Path
) -> None:
    failing = with_command(relay_ctx, "cat >&2; echo 'reload failed' >&2; exit 1")
    report = await rotation.graceful(failing)
    new = failing.vault.get(VAULT_B)
    assert new is not None and not report.ok
    result = report.app_secret
    assert result is not None and result.exit_code == 1 and not result.ok
    assert result.stderr == f"{MASK}\nreload failed\n"
    assert new not in json.dumps(report.to_json()) and new not in repr(report)
    assert report.new_secret == new  # the operator finishes by hand with it
    assert "app_secret_command exited 1" in report.lines[-1]
    assert failing.state.get(ROTATION_KEY)["stage"] == rotation.HANDOFF_STAGE
    assert await worker_secret_names(failing) == {BINDING_A, BINDING_B}
    assert (
        "CF_EMAIL_WORKER_SECRET" in report.next_actions[1] and "by hand" in report.next_actions[1]
    )
    assert "rotate --graceful` again" in report.next_actions[2]

    said: list[str] = []
    stored = tmp_path / "app-secret"
    fixed = with_command(relay_ctx, f"umask 077; cat > {stored}")
    again = await rotation.graceful(fixed, said.append)
    assert again.ok and again.app_secret is not None and again.app_secret.ok
    assert stored.read_text() == new + "\n" and fixed.vault.get(VAULT_B) == new
    assert not any("set on" in line for line in said), said  # only the command ran again
    assert fixed.state.get(ROTATION_KEY)["stage"] == "done"
    assert (await rotation.promote(fixed)).ok


async def test_after_a_failed_hand_off_the_app_can_be_switched_by_hand_then_promoted(
    relay_ctx: Context,
) -> None:
    failing = with_command(relay_ctx, "exit 7")
    assert not (await rotation.graceful(failing)).ok
    new = failing.vault.get(VAULT_B)
    promoted = await rotation.promote(failing)
    assert promoted.ok and failing.vault.get(VAULT_A) == new
    assert failing.state.get(ROTATION_KEY)["stage"] == "done"


async def test_emergency_with_the_command_finishes_both_sides(
    sending_ctx: Context, tmp_path: Path
) -> None:
    app_file = tmp_path / "app-secret"
    leaked = sending_ctx.vault.get(VAULT_A)
    ctx = with_command(sending_ctx, f"umask 077; cat > {app_file}")
    report = await rotation.emergency(ctx)
    assert report.ok and report.app_secret is not None and report.app_secret.ok
    app_has = app_file.read_text().strip()
    assert app_has == ctx.vault.get(VAULT_A) != leaked
    assert send(ctx, app_has, "someone@example.com", "the app, switched").status == 202
    assert send(ctx, leaked, "someone@example.com", "the leaked secret").status == 401
    assert not any("restart the app now" in a for a in report.next_actions)
    assert "gave the app the new secret" in report.next_actions[0]


def test_output_is_bounded_and_an_echo_cut_at_the_limit_is_still_scrubbed() -> None:
    secret = generate_secret()
    # the secret three times (each echo is masked, so later text moves up), filler, then the
    # secret again straddling where the kept bytes end: its first 10 bytes are all that is read
    filler = OUTPUT_LIMIT + len(secret) - 1 - 3 * (len(secret) + 1) - 10
    command = (
        'read -r s; printf \'%s\\n\' "$s" "$s" "$s"; '
        f"head -c {filler} /dev/zero | tr '\\0' x; printf '%s' \"$s\"; head -c 100000 /dev/zero"
    )
    result = hand_off(command, secret, 30)
    assert result.ok, result
    assert result.stdout.startswith(f"{MASK}\n{MASK}\n{MASK}\nxxx")
    assert result.stdout.endswith(f"[output cut at {OUTPUT_LIMIT} bytes]")
    assert len(result.stdout.encode()) <= OUTPUT_LIMIT + 40
    assert result.stdout.count(MASK) == 4
    for size in range(4, len(secret) + 1):  # not even a piece of it
        assert secret[:size] not in result.stdout, size


def test_a_command_that_hangs_is_stopped_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"
    result = hand_off(f"sleep 300 & echo $! > {pid_file}; wait", generate_secret(), 1)
    assert result.timed_out and result.exit_code is None and not result.ok
    assert "timed out" in result.summary()
    child = int(pid_file.read_text())
    state = Path(f"/proc/{child}/stat")
    assert not state.exists() or state.read_text().split(") ")[1].startswith("Z")


def set_command(box_dir: Path, command: str) -> None:
    done = run_cli(box_dir, "config", "set", "app_secret_command", command)
    assert done.returncode == 0, done.stderr


def test_cli_rotate_json_reports_the_command_and_emergency_starts_over(tmp_path: Path) -> None:
    box_dir = tmp_path / "sandbox"
    for step_id in RELAY_STEPS:
        assert run_cli(box_dir, "apply", step_id, "--yes").returncode == 0
    vault = sandbox_vault(Sandbox(box_dir), load_config(box_dir / "config.toml").domain)
    set_command(box_dir, "cat >&2; exit 3")
    assert run_cli(box_dir, "config", "set", "app_secret_command", " ").returncode == 2

    out = run_cli(box_dir, "rotate", "--graceful", "--yes", "--json")
    assert out.returncode == 1, out.stderr
    document = json.loads(out.stdout)
    staged = vault.get(VAULT_B)
    assert staged and staged not in out.stdout
    assert document["app_secret_command"]["exit_code"] == 3
    assert document["app_secret_command"]["stderr"] == MASK + "\n"
    assert out.stderr.count(staged) == 1  # the operator's copy, on stderr, outside the JSON

    app_file = tmp_path / "app-secret"
    set_command(box_dir, f"cat > {app_file}")
    resumed = run_cli(box_dir, "rotate", "--graceful", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "app_secret_command exited 0" in resumed.stdout
    assert app_file.read_text() == staged + "\n"

    set_command(box_dir, "echo nope; exit 1")
    failed = run_cli(box_dir, "rotate", "--emergency", "--yes")
    assert failed.returncode == 1
    first = vault.get(VAULT_A)
    assert "app_secret_command exited 1" in failed.stdout
    assert "  app_secret_command stdout:\n    nope" in failed.stdout
    assert "rotate --emergency` again" in failed.stdout
    assert failed.stdout.count(first) == 1

    set_command(box_dir, f"cat > {app_file}")
    again = run_cli(box_dir, "rotate", "--emergency", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    fresh = vault.get(VAULT_A)
    assert fresh != first and app_file.read_text() == fresh + "\n"
    assert json.loads(again.stdout)["app_secret_command"]["ok"] is True
