"""`polaris-tui relay`: run the relay locally, in Python or as the shipped Worker in workerd."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from polaris_tui.fsutil import atomic_write
from polaris_tui.relay import WORKER_COMPATIBILITY_DATE, WORKER_MAIN_MODULE
from polaris_tui.relay.engine import RelaySettings

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
    host: str = "127.0.0.1",
    port: int = 8787,
    outbox: Path | None,
    smtp: str | None,
    engine: str = "python",
    public: bool = False,
    worker_vars: dict[str, str] | None = None,
) -> int:
    """Serve POST /send until interrupted; 2 for a usage error, else the server's exit status."""
    if not _is_loopback(host) and not public:
        return _fail(
            f"refusing to listen on {host}: it is not a loopback address. The relay sends "
            "mail for anyone holding the secret; pass --public to expose it on purpose."
        )
    if engine == "python":
        return _run_python(settings, host, port, outbox, smtp)
    if engine == "workerd":
        if outbox is not None or smtp is not None:
            return _fail(
                "--outbox/--smtp apply to --engine python; under workerd wrangler dev writes "
                "each message to an .eml file and prints its path"
            )
        return _run_workerd(settings, host, port, worker_vars or {})
    return _fail(f"--engine must be 'python' or 'workerd', not {engine!r}")


def _run_python(
    settings: RelaySettings, host: str, port: int, outbox: Path | None, smtp: str | None
) -> int:
    from polaris_tui.relay.engine import Delivery, OutboxDelivery, RelayEngine, SmtpDelivery

    delivery: Delivery
    if (outbox is None) == (smtp is None):
        return _fail("give exactly one of --outbox DIR or --smtp HOST:PORT for accepted mail")
    if outbox is not None:
        delivery = OutboxDelivery(outbox)
        destination = f"outbox {outbox}"
    else:
        smtp_host, _, smtp_port = (smtp or "").rpartition(":")
        if not smtp_host or not smtp_port.isdigit():
            return _fail(f"--smtp must be HOST:PORT (e.g. 127.0.0.1:1025), not {smtp!r}")
        delivery = SmtpDelivery(smtp_host, int(smtp_port))
        destination = f"SMTP {smtp}"

    import uvicorn

    from polaris_tui.relay.server import create_app

    app = create_app(RelayEngine(settings, delivery))
    # loop/http "auto": uvloop and httptools (dependencies) when installed, else asyncio and h11.
    # No access log: at level "warning" it printed nothing, yet built its fields per request.
    # No proxy-headers middleware: the relay reads neither the client address nor the scheme.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False
    )
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
    return 0


def dev_config(settings: RelaySettings, extra_vars: dict[str, str]) -> dict[str, object]:
    """A wrangler config for `wrangler dev`: local KV, one send_email binding per sender."""
    from polaris_tui.relay.node import WORKER_DIR

    return {
        "name": "polaris-email-worker-local",
        "main": str(WORKER_DIR / "src" / WORKER_MAIN_MODULE),
        "compatibility_date": WORKER_COMPATIBILITY_DATE,
        "kv_namespaces": [{"binding": "EMAIL_NONCE_DEDUP", "id": "local"}],
        "send_email": settings.send_email_bindings(),
        "vars": {**settings.worker_vars(), **extra_vars},
    }


def _dev_vars(settings: RelaySettings) -> bytes:
    lines = [f"POLARIS_SECRET_A={json.dumps(settings.secret_a)}"]
    if settings.secret_b:
        lines.append(f"POLARIS_SECRET_B={json.dumps(settings.secret_b)}")
    return ("\n".join(lines) + "\n").encode()


def _run_workerd(settings: RelaySettings, host: str, port: int, extra_vars: dict[str, str]) -> int:
    """`wrangler dev` on the shipped Worker; secrets go through a 0600 .dev.vars, never argv."""
    from polaris_tui.relay.node import (
        WORKER_DIR,
        NodeMissingError,
        ensure_node_modules,
        node_bin,
        node_env,
    )

    config = dev_config(settings, extra_vars)
    try:
        wrangler = node_bin(ensure_node_modules(), "wrangler")
    except NodeMissingError as error:
        return _fail(str(error))
    with tempfile.TemporaryDirectory(prefix="polaris-relay-") as private:
        os.chmod(private, 0o700)
        config_path = Path(private) / "wrangler.json"
        atomic_write(config_path, json.dumps(config).encode())
        atomic_write(Path(private) / ".dev.vars", _dev_vars(settings), 0o600)
        command = [
            str(wrangler), "dev",
            "--config", str(config_path),
            "--ip", host,
            "--port", str(port),
            "--persist-to", str(Path(private) / "state"),
            "--show-interactive-dev-session=false",
        ]  # fmt: skip
        print(
            f"relay (workerd) listening on http://{host}:{port}/send; mail goes to .eml files "
            "whose paths wrangler prints below"
        )
        sys.stdout.flush()
        return _run_until_interrupted(command, WORKER_DIR, node_env())


def _run_until_interrupted(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run ``command`` in its own process group; Ctrl-C or SIGTERM stops the whole group.

    Returning (rather than dying on SIGTERM) lets the caller delete the secrets file.
    """

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    child = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True)
    try:
        return child.wait()
    except KeyboardInterrupt:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)
            try:
                child.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
