"""`polaris-tui relay`: run the relay locally, in Python or as the shipped Worker in workerd."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from polaris_tui.relay import WORKER_COMPATIBILITY_DATE
from polaris_tui.relay.engine import RelaySettings
from polaris_tui.relay.protocol import HEADER_TIMEOUT_SECONDS
from polaris_tui.relay.server import BODY_TIMEOUT_SECONDS

EXIT_USAGE = 2


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fail(message: str) -> int:
    print(f"polaris-tui relay: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_relay(
    *,
    settings: RelaySettings,
    state_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8787,
    outbox: Path | None,
    smtp: str | None,
    engine: str = "python",
    public: bool = False,
    worker_vars: dict[str, str] | None = None,
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> int:
    """Serve POST /send until interrupted; 2 for a usage error, else the server's exit status.

    ``state_dir`` keeps the nonces and rate counters across restarts, so a captured request
    stays refused for the nonce TTL whatever happens to the process.
    """
    if not _is_loopback(host) and not public:
        return _fail(
            f"refusing to listen on {host}: it is not a loopback address. The relay sends "
            "mail for anyone holding the secret; pass --public to expose it on purpose."
        )
    timeouts = (header_timeout, body_timeout)
    if engine == "python":
        return _run_python(settings, host, port, outbox, smtp, state_dir, timeouts)
    if engine == "workerd":
        if outbox is not None or smtp is not None:
            return _fail(
                "--outbox/--smtp apply to --engine python; under workerd each message is "
                "written to an .eml file whose path is printed"
            )
        return _run_workerd(settings, host, port, worker_vars or {}, state_dir, timeouts)
    return _fail(f"--engine must be 'python' or 'workerd', not {engine!r}")


def _run_python(
    settings: RelaySettings,
    host: str,
    port: int,
    outbox: Path | None,
    smtp: str | None,
    state_dir: Path,
    timeouts: tuple[float, float],
) -> int:
    from polaris_tui.relay.engine import Delivery, RelayEngine, SmtpDelivery
    from polaris_tui.relay.outbox import OutboxDelivery
    from polaris_tui.relay.spool import report_torn_tail
    from polaris_tui.relay.state import RelayState

    delivery: Delivery
    if (outbox is None) == (smtp is None):
        return _fail("give exactly one of --outbox DIR or --smtp HOST:PORT for accepted mail")
    if outbox is not None:
        delivery = OutboxDelivery(outbox)
        report_torn_tail(delivery.spool)
        destination = f"outbox {outbox}"
    else:
        smtp_host, _, smtp_port = (smtp or "").rpartition(":")
        if not smtp_host or not smtp_port.isdigit():
            return _fail(f"--smtp must be HOST:PORT (e.g. 127.0.0.1:1025), not {smtp!r}")
        delivery = SmtpDelivery(smtp_host, int(smtp_port))
        destination = f"SMTP {smtp}"

    import uvicorn

    from polaris_tui.relay.protocol import StrictHttpToolsProtocol
    from polaris_tui.relay.server import create_app

    header_timeout, body_timeout = timeouts
    state = RelayState(state_dir / "python-relay.sqlite3")
    app = create_app(RelayEngine(settings, delivery, state=state), body_timeout=body_timeout)
    protocol = type("RelayProtocol", (StrictHttpToolsProtocol,), {"header_timeout": header_timeout})
    # loop "auto": uvloop when installed. The strict httptools protocol adds the header timeout,
    # half-close answers and the contract's 405/400 for unparsable requests.
    # No access log: at level "warning" it printed nothing, yet built its fields per request.
    # No proxy-headers middleware: the relay reads neither the client address nor the scheme.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False,
        http=protocol, ws="none",
    )  # fmt: skip
    server = uvicorn.Server(config)
    print(f"relay (python) listening on http://{host}:{port}/send; mail goes to {destination}")
    sys.stdout.flush()
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
    # handler it found: make that a clean return, as for the workerd engine.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        state.close()
        if isinstance(delivery, OutboxDelivery):
            delivery.close()
    return 0


def _serve_settings(
    settings: RelaySettings,
    host: str,
    port: int,
    extra_vars: dict[str, str],
    persist: Path,
    timeouts: tuple[float, float],
    tools: Path,
) -> bytes:
    """The one line serve.mjs reads on stdin: bindings (secrets included), where to persist."""
    bindings = {**settings.worker_vars(), **extra_vars, "POLARIS_SECRET_A": settings.secret_a}
    if settings.secret_b:
        bindings["POLARIS_SECRET_B"] = settings.secret_b
    header_timeout, body_timeout = timeouts
    line = {
        "host": host,
        "port": port,
        "compatibilityDate": WORKER_COMPATIBILITY_DATE,
        "persistDir": str(persist),
        "toolsDir": str(tools),  # where npm ci installed miniflare
        "sendEmail": settings.send_email_bindings(),
        "bindings": bindings,
        "headerTimeoutMs": int(header_timeout * 1000),
        "requestTimeoutMs": int((header_timeout + body_timeout) * 1000),
    }
    return json.dumps(line).encode() + b"\n"


def _remove_leftovers(private: Path) -> None:
    """What a killed relay left: wrangler-era /tmp/polaris-relay-* folders (their .dev.vars
    held both secrets) and the previous run's mail folder."""
    for stale in Path(tempfile.gettempdir()).glob("polaris-relay-*"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and stale.stat().st_uid == os.getuid():
                shutil.rmtree(stale)
    shutil.rmtree(private / "mail", ignore_errors=True)


def _run_workerd(
    settings: RelaySettings,
    host: str,
    port: int,
    extra_vars: dict[str, str],
    state_dir: Path,
    timeouts: tuple[float, float],
) -> int:
    """The shipped Worker in workerd (serve.mjs); secrets go over a pipe, never argv or disk."""
    from polaris_tui.relay.node import WORKER_DIR, NodeMissingError, ensure_node_modules, node_env

    try:
        tools = ensure_node_modules()
    except NodeMissingError as error:
        return _fail(str(error))
    private = state_dir / "workerd"
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    os.chmod(private, 0o700)
    _remove_leftovers(private)
    mail = private / "mail"
    mail.mkdir(mode=0o700)
    # miniflare writes sent mail under os.tmpdir(): point that at the private folder.
    env = {**node_env(), "TMPDIR": str(mail)}
    line = _serve_settings(settings, host, port, extra_vars, private / "state", timeouts, tools)
    print(
        f"relay (workerd) listening on http://{host}:{port}/send; mail goes to .eml files "
        "whose paths are printed below"
    )
    sys.stdout.flush()
    return _run_until_interrupted(["node", "serve.mjs"], WORKER_DIR, env, line)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _run_until_interrupted(command: list[str], cwd: Path, env: dict[str, str], line: bytes) -> int:
    """Run ``command`` with ``line`` on its stdin, kept open as a lifeline until we exit.

    The child stops when that pipe closes (however this process ends) and, on Linux, on
    PR_SET_PDEATHSIG as well; it stays in our process group, so Ctrl-C reaches it too.
    """

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    child = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )  # fmt: skip
    assert child.stdin is not None
    try:
        child.stdin.write(line)
        child.stdin.flush()
        return child.wait()
    except KeyboardInterrupt:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)
            try:
                child.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(OSError):
            child.stdin.close()
