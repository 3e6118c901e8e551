"""The one composition root: config, vault, state, journal, endpoints and, under --sandbox,
the sandbox itself, built here and handed down as a ``Context``.

The CLI, the TUI and the demo open a session through ``open_session`` and nowhere else, so
"which keyring may hold secrets" and "is this a stand-in account" are decided in one place:
the vault accepts the sandbox's file keyring because this root is running the sandbox, not
because of anything the backend says about itself. Only this module imports the sandbox.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from polaris_tui.errors import UsageError
from polaris_tui.paths import default_config_path
from polaris_tui.vault import KeyringPolicy, Vault

if TYPE_CHECKING:
    from polaris_tui.config import Config
    from polaris_tui.context import Context
    from polaris_tui.sandbox import SandboxEndpoints
    from polaris_tui.sandbox.child import SandboxProcess
    from polaris_tui.state import StateStore

# The TUI holds its SessionOptions before the first frame, so this module imports only light
# modules at the top; the Context's parts (journal, state, steps' types) load when it is built.


SANDBOX_WITH_CONFIG = (
    "--config cannot be combined with --sandbox: the sandbox keeps its own config for its "
    "stand-in account ({path})"
)
SANDBOX_CONFIG_FIX = (
    "Change the sandbox's config with `polaris-tui --sandbox config set KEY VALUE` (or the "
    "TUI's settings), or drop --sandbox to use your own config file."
)


@dataclass(frozen=True)
class SessionOptions:
    """What the operator chose on the command line; the same for CLI and TUI."""

    config_path: Path | None = None
    sandbox: bool = False
    sandbox_dir: Path | None = None
    # The TUI has no dashboard to send the operator to: the sandbox adds the verified DMARC
    # mailbox a real operator adds by hand. Commands leave the account as it is.
    add_operator_mailbox: bool = False
    # The run will request Worker hosts (verify; the TUI, whose secret status probes the
    # relay): under --sandbox the sandbox loads deployed Workers in the background once it
    # is up, rather than on the first request.
    warm_edge: bool = False
    # The adapters' modules this run will use (``adapters.preload``'s group: "reads",
    # "verify" or "preflight"), imported while the sandbox process starts beside them.
    preload: str | None = None

    def __post_init__(self) -> None:
        if self.sandbox and self.config_path is not None:
            raise UsageError(
                SANDBOX_WITH_CONFIG.format(path=self.config_file), guidance=SANDBOX_CONFIG_FIX
            )

    @property
    def sandbox_directory(self) -> Path:
        from polaris_tui.sandbox import default_sandbox_dir

        return self.sandbox_dir or default_sandbox_dir()

    @property
    def config_file(self) -> Path:
        """The config this session reads and writes (the sandbox's own under --sandbox)."""
        if self.sandbox:
            return self.sandbox_directory / "config.toml"
        return self.config_path or default_config_path()


@dataclass
class Session:
    """A built Context, the sandbox it runs on (if any), and what the operator should hear."""

    ctx: Context
    sandbox: SandboxProcess | None = None
    notices: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None


def _tool_state_dir(base: Path, domain: str) -> Path:
    return base / "domains" / domain


def _readable(state: StateStore) -> StateStore:
    """The store after one read, so a damaged file is named now rather than per step."""
    state.load()
    return state


def build_context(config_path: Path) -> Context:
    """A Context for real Cloudflare from the operator's config and OS keyring."""
    from polaris_tui.config import load_config
    from polaris_tui.context import Context, Endpoints
    from polaris_tui.journal import Journal
    from polaris_tui.paths import state_dir
    from polaris_tui.state import StateStore

    config = load_config(config_path)
    base = state_dir()
    return Context(
        config=config,
        config_path=config_path,
        vault=Vault(config.domain, policy=KeyringPolicy.OS_KEYRING),
        state=_readable(StateStore(_tool_state_dir(base, config.domain) / "state.json")),
        journal=Journal(base / "journal.jsonl"),
        endpoints=Endpoints(resolvers=[(ip, 53) for ip in config.public_resolvers]),
    )


def operator_vault(options: SessionOptions) -> Vault:
    """The OS keyring for the configured domain, checked before the config is read so that a
    bad backend is named first (the `secrets` commands need no Context)."""
    from polaris_tui.config import load_config

    probe = Vault("-", policy=KeyringPolicy.OS_KEYRING)
    probe.ensure_usable()
    config = load_config(options.config_file)
    return Vault(config.domain, backend=probe.backend, policy=KeyringPolicy.OS_KEYRING)


def sandbox_vault(sandbox: SandboxProcess, domain: str) -> Vault:
    """The vault on the sandbox's own keyring, accepted because this is the sandbox."""
    return Vault(domain, backend=sandbox.keyring(), policy=KeyringPolicy.SANDBOX)


def _sandbox_config(endpoints: SandboxEndpoints) -> Config:
    """The sandbox's config as the operator left it; only ``account_id`` follows the account
    (a reseeded sandbox gets a new one), every other edit is kept."""
    from polaris_tui.config import load_config, set_value

    config = load_config(endpoints.config_path)
    if config.account_id != endpoints.account_id:
        config = set_value(endpoints.config_path, "account_id", endpoints.account_id) or config
    return config


def sandbox_context(sandbox: SandboxProcess, endpoints: SandboxEndpoints) -> Context:
    """A Context wired to a running sandbox: its config, keyring, API, DNS, S3 and edge."""
    from polaris_tui.context import Context, Endpoints
    from polaris_tui.journal import Journal
    from polaris_tui.state import StateStore

    config = _sandbox_config(endpoints)
    sd = endpoints.directory / "tool-state"
    return Context(
        config=config,
        config_path=endpoints.config_path,
        vault=sandbox_vault(sandbox, config.domain),
        state=_readable(StateStore(_tool_state_dir(sd, config.domain) / "state.json")),
        journal=Journal(sd / "journal.jsonl"),
        endpoints=Endpoints(
            api_base=endpoints.api,
            s3=endpoints.s3,
            authoritative_dns=[(endpoints.dns_host, endpoints.dns_port)],
            resolvers=[],
            edge=endpoints.edge,
        ),
        sandbox=endpoints,
    )


def _start_sandbox(options: SessionOptions, running: SandboxProcess | None) -> Session:
    """Start (or reuse) the sandbox process and stand in for the operator's one dashboard
    act; the run's imports happen while the process starts."""
    from polaris_tui.sandbox.child import SandboxProcess

    box = running or SandboxProcess(options.sandbox_directory, warm_edge=options.warm_edge)
    try:
        box.launch()  # first: everything below runs while it starts
        from polaris_tui.blocking import run_blocking
        from polaris_tui.demo import OPERATOR_MAILBOX, ensure_operator_mailbox

        if options.preload is not None:
            from polaris_tui.adapters import preload

            preload(options.preload)
        ctx = sandbox_context(box, box.start())
        notices = []
        if options.add_operator_mailbox and run_blocking(ensure_operator_mailbox(ctx)):
            notices.append(
                f"{OPERATOR_MAILBOX} added as the verified mailbox for DMARC reports (in a real "
                "account you add and verify it under Email → Email Routing → Destination "
                "addresses)."
            )
    except BaseException:
        if running is None:
            box.stop()
        raise
    return Session(ctx, box, notices)


def open_session(options: SessionOptions, *, running: SandboxProcess | None = None) -> Session:
    """Build the run's Context; under --sandbox start the sandbox (or reuse ``running``,
    the TUI's, when it reconnects after a settings change). The caller closes it."""
    if options.sandbox:
        return _start_sandbox(options, running)
    return Session(build_context(options.config_file))


def sandbox_command(action: str, directory: Path | None) -> int:
    """`polaris-tui sandbox serve|reset`: the sandbox on its own, for other tools to use."""
    from polaris_tui.sandbox.cli import cmd_reset, cmd_serve

    return cmd_serve(directory) if action == "serve" else cmd_reset(directory)


@contextlib.contextmanager
def session(options: SessionOptions) -> Iterator[Context]:
    """``open_session`` for one command: the sandbox (if any) lives as long as the block."""
    opened = open_session(options)
    try:
        yield opened.ctx
    finally:
        opened.close()
