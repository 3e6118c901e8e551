"""Errors the front ends catch, importable without the modules that raise them.

The console script maps ``ConfigError`` to an exit code before it knows whether it runs a
command or opens the TUI; naming it must not import ``config`` (TOML parser, validators),
which the TUI needs before its first frame only when there is an operator config to read.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is wrong: names the field, the bad value and the fix."""

    def __init__(self, field_name: str, value: object, fix: str) -> None:
        self.field = field_name
        self.value = value
        self.fix = fix
        super().__init__(f"config field '{field_name}' = {value!r} is invalid: {fix}")
