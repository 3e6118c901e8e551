"""The engine's errors: one base with a title, a message, an exit code and guidance.

Every error the engine raises on purpose derives from ``PolarisError`` so that the CLI maps
errors to exit codes in one place and the TUI shows any of them in its failure view. The
port errors (``NotFound`` … ``Unavailable``) are what adapters raise instead of a vendor's
exception classes; they keep Cloudflare's error codes so the troubleshooting catalog can
match them.

This module imports nothing heavy: the console script names these classes before it knows
whether it runs a command or opens the TUI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PolarisError(Exception):
    """An expected failure, said for an operator: what happened, and what to do about it."""

    title: str = "Error"
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        title: str | None = None,
        guidance: str = "",
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        if exit_code is not None:
            self.exit_code = exit_code
        self.guidance = guidance

    def to_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "message": self.message,
            "guidance": self.guidance,
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PolarisError:
        """The error ``to_json`` wrote, as said by another process (the sandbox's)."""
        return cls(
            doc["message"], title=doc["title"], guidance=doc["guidance"], exit_code=doc["exit_code"]
        )


class ConfigError(PolarisError, ValueError):
    """A config value is wrong: names the field, the bad value and the fix."""

    title = "Invalid configuration"
    exit_code = 2

    def __init__(self, field_name: str, value: object, fix: str) -> None:
        self.field = field_name
        self.value = value
        self.fix = fix
        super().__init__(f"config field '{field_name}' = {value!r} is invalid: {fix}", guidance=fix)


class MetadataError(PolarisError, ValueError):
    """A Worker upload's metadata does not match the API's types; names the field."""

    title = "Invalid Worker metadata"


class UsageError(PolarisError):
    """Wrong arguments or options: exit 2; the message says which and what to use instead."""

    title = "Usage error"
    exit_code = 2


class CorruptFile(PolarisError):
    """A file the tool reads cannot be parsed: names the file, what is wrong and the fix.

    Raised instead of overwriting: the operator decides whether to repair or move it aside.
    """

    title = "Unreadable file"
    exit_code = 2

    def __init__(self, path: object, problem: str, fix: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}; {fix}", guidance=fix)


class ApiError(PolarisError):
    """A provider API refused a request; ``codes`` are the provider's own error codes."""

    title = "API error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: Sequence[int] = (),
        guidance: str = "",
    ) -> None:
        super().__init__(message, guidance=guidance)
        self.status = status
        self.codes = tuple(codes)


class NotFound(ApiError):
    title = "Not found"


class Conflict(ApiError):
    """The request clashes with what exists (a taken name, a record in the way)."""

    title = "Conflict"


class PermissionDenied(ApiError):
    """The credential lacks a permission; ``permission`` names it when known."""

    title = "Permission denied"

    def __init__(self, message: str, *, permission: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.permission = permission


class RateLimited(ApiError):
    title = "Rate limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Unavailable(ApiError):
    """The provider failed on its side (5xx, timeouts, dropped connections) after retries."""

    title = "Service unavailable"
