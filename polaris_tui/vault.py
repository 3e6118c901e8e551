"""The only code that touches secret storage: the OS keyring, fail-closed, with timeouts.

A machine without a usable keyring gets a clear error naming the backend found and the
remedies; we never fall back to a plaintext file. Keyring calls run in a worker thread with a
timeout because a Secret Service unlock prompt can block forever.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from polaris_tui.errors import PolarisError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SECRET_NAMES: tuple[str, ...] = (
    "cloudflare-api-token",
    "r2-access-key-id",
    "r2-secret-access-key",
    "polaris-secret-a",
    "polaris-secret-b",
    "imap-password",  # the mailbox send-test and verify read test messages from (imap_host)
)
REMEDY = (
    "Unlock or install a Secret Service (GNOME Keyring or KeePassXC with its Secret Service "
    "integration) on Linux, use the macOS Keychain or the Windows Credential Locker, or choose a "
    "backend explicitly with PYTHON_KEYRING_BACKEND (for example "
    "keyring.backends.SecretService.Keyring). polaris-tui never stores secrets in a plaintext file."
)
# The sandbox's JSON-file keyring is named here (a module prefix, not an import) so that it is
# refused like any other plaintext store unless the session runs the sandbox.
_INSECURE_MODULES = (
    "keyring.backends.fail",
    "keyring.backends.null",
    "keyrings.alt.file",
    "polaris_tui.sandbox.",
)
T = TypeVar("T")


class VaultError(PolarisError):
    """The keyring cannot be used safely; the message names the backend and the remedy."""

    title = "Keyring unusable"


class KeyringPolicy(Enum):
    """Which backends the vault accepts, decided by whoever builds it (the session root).

    ``OS_KEYRING`` refuses every backend that does not store secrets securely. ``SANDBOX``
    accepts the backend it is given as is: the session root passes the sandbox's own file
    keyring because it is running the sandbox, and for no other reason.
    """

    OS_KEYRING = "os-keyring"
    SANDBOX = "sandbox"


def _backend_name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _insecure_reason(backend: KeyringBackend) -> str | None:
    """Why ``backend`` must not hold secrets, or None when it is acceptable."""
    module = type(backend).__module__
    if module.startswith(_INSECURE_MODULES) or "Plaintext" in type(backend).__name__:
        return "it does not store secrets securely (or at all)"
    inner = getattr(backend, "backends", None)
    if inner is not None:  # keyring's ChainerBackend
        real = [b for b in inner if _insecure_reason(b) is None]
        if not real:
            return "it chains no usable backend"
    return None


@dataclass(frozen=True)
class VaultStatus:
    """What `secrets status` shows: the backend and which names are set, never values."""

    backend: str
    usable: bool
    problem: str | None
    present: dict[str, bool]


class Vault:
    """Secrets for one domain, under the keyring service ``polaris-tui:<domain>``."""

    def __init__(
        self,
        domain: str,
        backend: KeyringBackend | None = None,
        *,
        policy: KeyringPolicy = KeyringPolicy.OS_KEYRING,
        timeout: float = 10.0,
    ) -> None:
        if policy is KeyringPolicy.SANDBOX and backend is None:
            raise ValueError("a sandbox vault needs the sandbox's keyring backend")
        self.domain = domain
        self.service = f"polaris-tui:{domain}"
        self.policy = policy
        self._backend = backend
        self._timeout = timeout

    @property
    def backend(self) -> KeyringBackend:
        if self._backend is None:
            import keyring

            self._backend = keyring.get_keyring()
        return self._backend

    @property
    def backend_name(self) -> str:
        return _backend_name(self.backend)

    @property
    def is_sandbox(self) -> bool:
        return self.policy is KeyringPolicy.SANDBOX

    def _problem(self) -> str | None:
        if self.policy is KeyringPolicy.SANDBOX:
            return None
        return _insecure_reason(self.backend)

    def ensure_usable(self) -> None:
        reason = self._problem()
        if reason:
            raise VaultError(
                f"The keyring backend {self.backend_name} cannot hold secrets: {reason}. {REMEDY}"
            )

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one keyring call with the timeout; errors never carry the secret value."""
        self.ensure_usable()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            return pool.submit(fn).result(timeout=self._timeout)
        except concurrent.futures.TimeoutError:
            raise VaultError(
                f"The keyring ({self.backend_name}) did not answer within {self._timeout:g}s "
                f"while trying to {what}. It may be waiting for an unlock prompt: unlock it and "
                "retry."
            ) from None
        except (VaultError, PolarisError):  # a PolarisError names its cause (a damaged file)
            raise
        except Exception as exc:
            raise VaultError(
                f"The keyring ({self.backend_name}) failed to {what}: {type(exc).__name__}. "
                f"{REMEDY}"
            ) from None
        finally:
            pool.shutdown(wait=False)

    @staticmethod
    def _check_name(name: str) -> None:
        if name not in SECRET_NAMES:
            raise VaultError(f"Unknown secret name {name!r}: use one of {', '.join(SECRET_NAMES)}")

    def get(self, name: str) -> str | None:
        self._check_name(name)
        return self._call(f"read {name}", lambda: self.backend.get_password(self.service, name))

    def set(self, name: str, value: str) -> None:
        self._check_name(name)
        if not value:
            raise VaultError(f"Refusing to store an empty value for {name}")
        self._call(f"store {name}", lambda: self.backend.set_password(self.service, name, value))

    def delete(self, name: str) -> None:
        """Remove a secret; removing one that is not there is not an error."""
        self._check_name(name)

        def _delete() -> None:
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                self.backend.delete_password(self.service, name)

        self._call(f"delete {name}", _delete)

    def require(self, name: str, remedy: str) -> str:
        """The secret, or a VaultError that says how to provide it."""
        value = self.get(name)
        if not value:
            raise VaultError(f"The secret {name} is not in the keyring for {self.domain}: {remedy}")
        return value

    def status(self) -> VaultStatus:
        reason = self._problem()
        if reason:
            return VaultStatus(
                self.backend_name,
                False,
                f"{self.backend_name} cannot hold secrets: {reason}. {REMEDY}",
                dict.fromkeys(SECRET_NAMES, False),
            )
        try:
            present = {n: bool(self.get(n)) for n in SECRET_NAMES}
        except VaultError as exc:
            return VaultStatus(
                self.backend_name, False, str(exc), dict.fromkeys(SECRET_NAMES, False)
            )
        return VaultStatus(self.backend_name, True, None, present)
