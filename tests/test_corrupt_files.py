"""Damaged files the tool reads: one line naming the file, what is wrong and the fix (exit 2),
and the file left exactly as it was; a damaged journal line is skipped with a warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "polaris-tui"
GARBAGE = b'{"time": 1, "domain": \xff\xfe nonsense\n\x00\x01[1, 2\n'


def run(*args: str, state_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(state_home), "POLARIS_SANDBOX_ACTIVATION_MS": "0"}
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, check=False, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox folder after one apply, so it has tool state and a journal."""
    base = tmp_path_factory.mktemp("seeded")
    proc = run("--sandbox", "--sandbox-dir", str(base / "box"), "apply", "kv", "--yes",
               state_home=base)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return base / "box"


@pytest.fixture
def box(seeded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "box"
    shutil.copytree(seeded, copy)
    return copy


def assert_one_line_error(proc: subprocess.CompletedProcess[str], path: Path, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(path) in lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def test_non_utf8_config_names_the_file_and_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    blob = b'domain = "caf\xe9.example"\naccount_id = "0123456789abcdef0123456789abcdef"\n'
    config.write_bytes(blob)
    for command in (("status",), ("config", "show"), ("config", "set", "host_mail", "relay")):
        proc = run("--config", str(config), *command, state_home=tmp_path)
        assert_one_line_error(proc, config, "not UTF-8", "offset 13", "save it as UTF-8")
    assert config.read_bytes() == blob


def test_corrupt_tool_state_is_named_not_overwritten(box: Path) -> None:
    state = box / "tool-state" / "domains" / "polaris.test" / "state.json"
    assert state.exists()
    blob = state.read_bytes()[:-7] + b"\x00garbage"
    state.write_bytes(blob)
    for args in (("status",), ("plan", "all"), ("apply", "kv", "--yes")):
        proc = run("--sandbox", "--sandbox-dir", str(box), *args, state_home=box.parent)
        assert_one_line_error(proc, state, "not valid JSON", "line", "move it aside")
    assert state.read_bytes() == blob


@pytest.mark.parametrize("content", [b"[1, 2, 3]", b'"just a string"'])
def test_tool_state_that_is_not_an_object_is_refused(box: Path, content: bytes) -> None:
    state = box / "tool-state" / "domains" / "polaris.test" / "state.json"
    state.write_bytes(content)
    proc = run("--sandbox", "--sandbox-dir", str(box), "status", state_home=box.parent)
    assert_one_line_error(proc, state, "not a JSON object")
    assert state.read_bytes() == content


@pytest.mark.parametrize("name", ["keyring.json", "state.json"])
@pytest.mark.parametrize("blob", [b'{"polaris-tui:polaris.test": {', b"\xff\xfe\x00{}"])
def test_corrupt_sandbox_file_is_named_not_overwritten(box: Path, name: str, blob: bytes) -> None:
    path = box / name
    path.write_bytes(blob)
    proc = run("--sandbox", "--sandbox-dir", str(box), "status", state_home=box.parent)
    assert_one_line_error(proc, path, "sandbox reset")
    assert path.read_bytes() == blob


def test_garbage_journal_lines_are_skipped_with_a_warning(box: Path) -> None:
    journal = box / "tool-state" / "journal.jsonl"
    good = journal.read_bytes()
    assert good.count(b"\n") == 1
    torn = b'{"time": 1e999, "domain": "polaris.test", "step": "dns", "outcome": "ok"}\n{"ti'
    journal.write_bytes(GARBAGE + good + b"[]\n" + torn)

    proc = run("--sandbox", "--sandbox-dir", str(box), "history", "--json", state_home=box.parent)
    assert proc.returncode == 0, proc.stderr
    assert [e["step"] for e in json.loads(proc.stdout)] == ["kv"]
    warned = [line for line in proc.stderr.splitlines() if "skipped" in line]
    assert len(warned) == 5, proc.stderr
    assert all(str(journal) in line for line in warned)
    assert {f"line {n} " for n in (1, 2, 4, 5, 6)} == {
        next(f"line {n} " for n in range(1, 7) if f"line {n} " in line) for line in warned
    }

    proc = run("--sandbox", "--sandbox-dir", str(box), "status", state_home=box.parent)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert any(line.startswith("kv ") and "done" in line for line in proc.stdout.splitlines())


def test_an_apply_after_a_torn_journal_line_is_kept(box: Path) -> None:
    journal = box / "tool-state" / "journal.jsonl"
    journal.write_bytes(journal.read_bytes() + b'{"time": 17')
    proc = run("--sandbox", "--sandbox-dir", str(box), "apply", "dns", "--yes",
               state_home=box.parent)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run("--sandbox", "--sandbox-dir", str(box), "history", "--json", state_home=box.parent)
    assert [e["step"] for e in json.loads(proc.stdout)] == ["kv", "dns"], proc.stderr


def test_a_keyring_damaged_while_running_is_named_through_the_vault(tmp_path: Path) -> None:
    from polaris_tui.errors import CorruptFile
    from polaris_tui.sandbox.keyring_backend import SandboxKeyring
    from polaris_tui.vault import KeyringPolicy, Vault

    path = tmp_path / "keyring.json"
    path.write_bytes(b'{"polaris-tui:polaris.test": ')
    vault = Vault("polaris.test", backend=SandboxKeyring(path), policy=KeyringPolicy.SANDBOX)
    with pytest.raises(CorruptFile, match=f"{path}: not valid JSON .*sandbox reset"):
        vault.get("cloudflare-api-token")


def test_non_utf8_wrangler_config_is_named(tmp_path: Path) -> None:
    from polaris_tui.errors import CorruptFile
    from polaris_tui.wrangler_sync import read_kv_ids

    path = tmp_path / "wrangler.jsonc"
    path.write_bytes(b'{ "name": "caf\xe9" }')
    with pytest.raises(CorruptFile, match=r"not UTF-8 text .*save it as UTF-8"):
        read_kv_ids(path)
    assert path.read_bytes() == b'{ "name": "caf\xe9" }'
