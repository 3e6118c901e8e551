"""The CLI's and the TUI's sandbox process (``sandbox.child``): it serves what the in-process
sandbox serves, takes its control ops over stdin, says why it could not start, and ends
with its parent however the parent ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from polaris_tui.errors import PolarisError
from polaris_tui.sandbox.child import SandboxProcess
from polaris_tui.sandbox.keyring_backend import SandboxKeyring
from polaris_tui.sandbox.state import SERVICE, TOKEN_NAME


def zones(endpoints) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {endpoints.token}"}
    return httpx.get(f"{endpoints.api}/zones", headers=headers, timeout=10, trust_env=False)


def gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_the_child_serves_and_takes_control_ops(tmp_path: Path) -> None:
    box = SandboxProcess(tmp_path / "sbx")
    endpoints = box.start()
    try:
        assert endpoints.directory == tmp_path / "sbx" and endpoints.domain == "polaris.test"
        assert zones(endpoints).json()["result"][0]["name"] == "polaris.test"
        box.set_faults("GET:/zones:503")
        assert zones(endpoints).status_code == 503
        box.set_faults("")
        assert zones(endpoints).status_code == 200
        with pytest.raises(PolarisError, match="set_faults"):
            box.set_faults("GET:/zones:teapot")  # a bad rule is the op's error, said back
        box.reset_state()
        assert box.keyring().get_password(SERVICE, TOKEN_NAME) == endpoints.token
        # a session of its own: the terminal's Ctrl-C goes to the command, not the sandbox
        assert box.pid is not None and os.getsid(box.pid) != os.getsid(0)
    finally:
        box.stop()
    assert box.pid is None
    with pytest.raises(httpx.ConnectError):
        zones(endpoints)


def test_a_child_that_cannot_start_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "sbx"
    folder.mkdir()
    (folder / "state.json").write_bytes(b'{"zone": ')
    box = SandboxProcess(folder)
    with pytest.raises(PolarisError) as err:
        box.start()
    assert str(folder / "state.json") in err.value.message and err.value.exit_code == 2
    assert (folder / "state.json").read_bytes() == b'{"zone": '


PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from polaris_tui.sandbox.child import SandboxProcess

    box = SandboxProcess(Path(sys.argv[1]))
    box.start()
    print(box.pid, flush=True)
    time.sleep(600)
    """
)


def test_the_child_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "sbx")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # running
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert gone(child), "the sandbox process outlived its SIGKILLed parent"


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from polaris_tui.sandbox.keyring_backend import SandboxKeyring

    keyring = SandboxKeyring(Path(sys.argv[1]))
    for n in range(60):
        keyring.set_password("svc", f"{sys.argv[2]}-{n}", "x")
    """
)


def test_two_processes_writing_the_keyring_lose_nothing(tmp_path: Path) -> None:
    """The sandbox process and the command's both write ``keyring.json``: every
    read-modify-write holds a lock across processes, so no write undoes another."""
    path = tmp_path / "keyring.json"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in "ab"]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    assert len(SandboxKeyring(path).entries("svc")) == 120
