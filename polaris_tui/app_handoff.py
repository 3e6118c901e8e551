"""Handing a new signing secret to the app: the operator's ``app_secret_command``.

The command runs through the shell (``sh -c``) with the secret on its stdin and nowhere
else: argv is readable by every local user (``ps``), the environment is readable in
/proc/<pid>/environ and inherited by everything the command starts, and a file outlives the
run. It runs in its own session, without a terminal (a password prompt fails instead of
hanging the TUI), and is stopped after a timeout. What it prints is kept to a bounded size
and scrubbed of the secret before anyone sees it: a command that echoes its input (``tee``,
``set -x``, an error quoting the line) would otherwise put the secret on the screen and in
the JSON output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

OUTPUT_LIMIT = 4096  # bytes of each of stdout and stderr kept for the operator
MASK = "[secret]"
_GRACE_S = 2.0  # after SIGTERM (timeout) and after exit (a descendant holding the pipes)


@dataclass(frozen=True)
class HandOff:
    """How one run of ``app_secret_command`` went; its output is already scrubbed."""

    command: str
    exit_code: int | None  # None: it did not finish (timed out) or could not start
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool = False
    error: str = ""  # why it could not start

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        if self.error:
            return f"app_secret_command could not start: {self.error}"
        if self.timed_out:
            return f"app_secret_command timed out after {self.elapsed_s:.0f} s and was stopped"
        return f"app_secret_command exited {self.exit_code} in {self.elapsed_s:.2f} s"

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "error": self.error,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "elapsed_s": round(self.elapsed_s, 3),
        }


class _Capture:
    """Reads one pipe to its end on a thread, keeping only its first ``keep`` bytes."""

    def __init__(self, stream: IO[bytes], keep: int) -> None:
        self.kept = bytearray()
        self.total = 0
        self._stream, self._keep = stream, keep
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError), self._stream:
            while chunk := self._stream.read1(65536):  # type: ignore[attr-defined]
                self.total += len(chunk)
                room = self._keep - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]

    def text(self, secret: str) -> str:
        return scrub(bytes(self.kept), secret, cut=self.total > len(self.kept))


def scrub(data: bytes, secret: str, *, cut: bool = False) -> str:
    """``data`` as text without the secret, at most OUTPUT_LIMIT bytes' worth.

    ``data`` may run up to ``len(secret) - 1`` bytes past the limit, so that an echo of the
    secret that straddles the limit is still whole here and replaced; when the stream was
    ``cut`` there, a tail that starts the secret is masked too.
    """
    text = data.decode("utf-8", "replace").replace(secret, MASK)
    if cut:
        for size in range(min(len(secret) - 1, len(text)), 0, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + MASK
                break
    if cut or len(text.encode()) > OUTPUT_LIMIT:
        text = text.encode()[:OUTPUT_LIMIT].decode("utf-8", "ignore")
        text += f"\n[output cut at {OUTPUT_LIMIT} bytes]"
    return text


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command's whole process group, SIGKILL if it is still there."""
    for sig, wait in ((signal.SIGTERM, _GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(proc.pid, sig)
            else:
                proc.kill()
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def hand_off(command: str, secret: str, timeout_s: float) -> HandOff:
    """Run ``command`` through the shell with ``secret`` and a newline on its stdin."""
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command,  # through the shell: a shell command line is what the operator configures
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return HandOff(command, None, "", "", time.perf_counter() - started, error=str(exc))
    keep = OUTPUT_LIMIT + len(secret) - 1
    assert proc.stdin and proc.stdout and proc.stderr
    out, err = _Capture(proc.stdout, keep), _Capture(proc.stderr, keep)
    with contextlib.suppress(BrokenPipeError, OSError):  # it may exit without reading
        proc.stdin.write(secret.encode() + b"\n")
        proc.stdin.flush()
    with contextlib.suppress(BrokenPipeError, OSError):
        proc.stdin.close()
    timed_out = False
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc)
    for capture in (out, err):
        capture.thread.join(_GRACE_S)
    return HandOff(
        command,
        None if timed_out else proc.returncode,
        out.text(secret),
        err.text(secret),
        time.perf_counter() - started,
        timed_out=timed_out,
    )
