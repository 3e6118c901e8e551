"""The CLI's and the TUI's sandbox in a process of its own.

In the command's process the sandbox's servers shared one interpreter lock with the command's
imports and reads, so each answer waited for them; in a child they start and answer on
another core. The child prints one line when it is up (the serve line, or an error), then
answers one JSON control op per line on stdin. Its stdin is also its lifeline: when it
closes, however the parent ended (exit, crash, SIGKILL), the child stops. It runs in a
session of its own, so a Ctrl-C at the terminal reaches the command only, and its stderr
goes to ``sandbox.log`` in the sandbox folder.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui.errors import PolarisError
from polaris_tui.sandbox import LOG_NAME, Sandbox, SandboxEndpoints
from polaris_tui.sandbox.json_lines import read_json_lines

if TYPE_CHECKING:
    from polaris_tui.sandbox.keyring_backend import SandboxKeyring

START_TIMEOUT_SECONDS = 120.0  # a first start on a slow disk seeds, and may fetch Node tools
OP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
# The control ops, each a ``Sandbox`` method taking at most one argument.
OPS = ("set_faults", "set_latency", "set_address_verify", "reset_state")


class SandboxProcess:
    """A running sandbox in a child process, with the ``Sandbox`` methods a session uses."""

    def __init__(self, directory: Path, *, warm_edge: bool = False) -> None:
        self.directory = Path(directory)
        self.warm_edge = warm_edge
        self.endpoints: SandboxEndpoints | None = None
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()  # one control op in flight at a time

    def launch(self) -> None:
        """Spawn the child and return at once; ``start`` waits for it to be up."""
        if self._process is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", __name__, str(self.directory)]
        if self.warm_edge:
            argv.append("--warm-edge")
        with open(self.directory / LOG_NAME, "ab") as log:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        assert self._process.stdout is not None
        threading.Thread(
            target=read_json_lines, args=(self._process.stdout, self._lines), daemon=True
        ).start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> SandboxEndpoints:
        if self.endpoints is not None:
            return self.endpoints
        self.launch()
        try:
            reply = self._reply(START_TIMEOUT_SECONDS, "start")
        except BaseException:
            self.stop()
            raise
        self.endpoints = SandboxEndpoints.from_serve_line(reply["serve"], self.directory)
        return self.endpoints

    def stop(self) -> None:
        """Close the lifeline and wait for the child to finish writing; kill it if it hangs."""
        process, self._process, self.endpoints = self._process, None, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def keyring(self) -> SandboxKeyring:
        """The sandbox's own keyring file (never the operator's); its lock spans processes."""
        from polaris_tui.sandbox.keyring_backend import SandboxKeyring

        return SandboxKeyring.in_folder(self.directory)

    def set_faults(self, spec: str) -> None:
        """Replace the fault rules at runtime (same syntax as POLARIS_SANDBOX_FAULTS)."""
        self._call("set_faults", spec)

    def set_latency(self, latency_ms: int) -> None:
        self._call("set_latency", latency_ms)

    def set_address_verify(self, delay_ms: int) -> None:
        """Verify new destination addresses ``delay_ms`` after creation (negative: only by
        their mailed link), like POLARIS_SANDBOX_ADDRESS_VERIFY_MS."""
        self._call("set_address_verify", delay_ms)

    def reset_state(self) -> None:
        """Back to the freshly seeded account, keeping servers, ports and credentials."""
        self._call("reset_state")

    def _call(self, op: str, *args: object) -> None:
        with self._lock:
            process = self._process
            if process is None or process.stdin is None or self.endpoints is None:
                raise RuntimeError("the sandbox is not running; call start() first")
            try:
                process.stdin.write(json.dumps({"op": op, "args": list(args)}) + "\n")
                process.stdin.flush()
            except OSError as err:
                raise RuntimeError(f"the sandbox process is gone ({err})") from None
            self._reply(OP_TIMEOUT_SECONDS, op)

    def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            reply = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise PolarisError(
                f"the sandbox did not answer {what} within {timeout:.0f} s; "
                f"see {self.directory / LOG_NAME}",
                title="Sandbox",
            ) from None
        if reply is None:
            raise PolarisError(
                f"the sandbox process exited during {what}: {self._log_tail()}",
                title="Sandbox",
                guidance=f"Its log is {self.directory / LOG_NAME}.",
            )
        if "error" in reply:
            raise PolarisError.from_json(reply["error"])
        return reply

    def _log_tail(self) -> str:
        try:
            lines = (self.directory / LOG_NAME).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "nothing in its log"


def _error(exc: BaseException, failed: str) -> dict[str, Any]:
    if not isinstance(exc, PolarisError):
        exc = PolarisError(
            f"the sandbox could not {failed}: {type(exc).__name__}: {exc}", title="Sandbox"
        )
    return {"error": exc.to_json()}


def _send(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def serve(directory: Path, *, warm_edge: bool) -> int:
    """Run the sandbox until stdin closes, answering control ops in between."""
    sandbox = Sandbox(directory, warm_edge=warm_edge)
    try:
        endpoints = sandbox.start()
    except Exception as exc:  # said to the parent, which raises it as the command's error
        _send(_error(exc, "start"))
        return 1
    _send({"serve": endpoints.serve_line()})
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op not in OPS:
                raise ValueError(f"unknown sandbox op {op!r}")
            getattr(sandbox, op)(*request["args"])
        except Exception as exc:
            _send(_error(exc, op))
        else:
            _send({"ok": op})
    # Every change is on disk before it was answered: only the Worker host (a process of its
    # own) needs stopping; the servers' threads end with this process.
    sandbox.halt()
    return 0


if __name__ == "__main__":
    code = serve(Path(sys.argv[1]), warm_edge="--warm-edge" in sys.argv[2:])
    sys.stdout.flush()
    os._exit(code)
