"""One apply per domain at a time: a second `apply` names the holder and exits 1, or waits."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from polaris_tui.apply_lock import HOLDER_NAME, ApplyLocked, apply_lock
from polaris_tui.sandbox import Sandbox
from tests.runtime_helpers import CLI, run_cli


def lock_dir(sandbox_dir: Path) -> Path:
    return sandbox_dir / "tool-state" / "domains" / "polaris.test"


def start_cli(sandbox_dir: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), "--sandbox", "--sandbox-dir", str(sandbox_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POLARIS_SANDBOX_ACTIVATION_MS": "300", **env},
    )


def holder_pid(directory: Path, proc: subprocess.Popen[str]) -> int:
    """Block until ``proc`` has written the holder file (or exited, which fails the test)."""
    while proc.poll() is None:
        try:
            return int(json.loads((directory / HOLDER_NAME).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    pytest.fail(f"the first apply ended before holding the lock:\n{proc.communicate()[1]}")


def apex_spf_records(sandbox_dir: Path) -> list[str]:
    """TXT v=spf1 records at the apex, asked of the sandbox's authoritative DNS over UDP."""
    with Sandbox(sandbox_dir) as ep:
        query = dns.message.make_query(ep.domain, dns.rdatatype.TXT)
        answer = dns.query.udp(query, ep.dns_host, port=ep.dns_port, timeout=5)
    texts = [b"".join(r.strings).decode() for rrset in answer.answer for r in rrset]
    return [t for t in texts if t.startswith("v=spf1")]


def test_a_second_apply_all_names_the_holder_and_exits_1(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    assert run_cli(box, "status").returncode == 0  # seed the sandbox folder once
    # The first apply's first DNS read answers after 15 s, so it holds the lock meanwhile
    # (the second needs only its sandbox start, a second or two, to reach the lock).
    slow = {"POLARIS_SANDBOX_FAULTS": "GET:/zones/*/dns_records*:delay=15000:1"}
    first = start_cli(box, "apply", "all", "--yes", env=slow)
    pid = holder_pid(lock_dir(box), first)
    assert pid == first.pid

    second = run_cli(box, "apply", "all", "--yes")
    assert second.returncode == 1, second.stdout + second.stderr
    message = second.stderr.strip().splitlines()
    assert len(message) == 1, second.stderr
    assert f"pid {first.pid} (polaris-tui apply all) since " in message[0]
    assert "--wait" in message[0]
    assert second.stdout == ""  # it planned and changed nothing

    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert not (lock_dir(box) / HOLDER_NAME).exists()
    assert len(apex_spf_records(box)) == 1


def test_wait_queues_behind_the_holder(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    assert run_cli(box, "status").returncode == 0
    with apply_lock(lock_dir(box), "a test holding the lock"):
        waiting = start_cli(box, "apply", "kv", "--yes", "--wait", env={})
        assert waiting.stderr is not None
        expected = f"waiting for the apply of pid {os.getpid()} (a test holding the lock)"
        lines = iter(waiting.stderr.readline, "")  # ends only if the process does
        assert any(expected in line for line in lines)
        assert waiting.poll() is None  # it is still waiting while the lock is held
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    assert "kv:" in out


def test_the_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    """An OS lock, not a pid file: a SIGKILLed apply leaves nothing to clean up."""
    box = tmp_path / "sbx"
    assert run_cli(box, "status").returncode == 0
    slow = {"POLARIS_SANDBOX_FAULTS": "GET:/zones/*/dns_records*:delay=60000:1"}
    first = start_cli(box, "apply", "dns", "--yes", env=slow)
    holder_pid(lock_dir(box), first)
    with pytest.raises(ApplyLocked, match=f"pid {first.pid} "), apply_lock(lock_dir(box), "t"):
        pass
    first.kill()
    first.communicate()
    with apply_lock(lock_dir(box), "a test"):
        assert json.loads((lock_dir(box) / HOLDER_NAME).read_text())["command"] == "a test"
