"""Shared fixtures: an in-memory keyring (never the real one) and a valid config file."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

VALID_CONFIG = """\
# operator comment: keep me
domain = "example.com"
account_id = "0123456789abcdef0123456789abcdef"
traefik_ipv4 = "203.0.113.10"
"""


class MemoryKeyring(KeyringBackend):
    """A keyring backend that lives in memory, for tests only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(VALID_CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One embedded sandbox for the whole session (servers are slow to start)."""
    from polaris_tui.sandbox import Sandbox

    box = Sandbox(tmp_path_factory.mktemp("sandbox"))
    endpoints = box.start()
    yield box, endpoints
    box.stop()


@pytest.fixture
def sandbox_ctx(sandbox_server):  # type: ignore[no-untyped-def]
    """A Context on a freshly reset sandbox account (servers kept up between tests)."""
    import shutil

    from polaris_tui.session import sandbox_context

    box, endpoints = sandbox_server
    box.reset_state()
    shutil.rmtree(endpoints.directory / "tool-state", ignore_errors=True)
    return sandbox_context(box, endpoints)
