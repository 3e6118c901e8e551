"""Where polaris-tui keeps its files (platformdirs), so every module agrees on one layout."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "polaris-tui"
CONFIG_ENV = "POLARIS_TUI_CONFIG"
LOG_ENV = "POLARIS_TUI_LOG"  # "debug": the debug log, as -v gives it


def default_config_path() -> Path:
    """The config file: ``$POLARIS_TUI_CONFIG``, else the user config dir (``--config`` wins)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def state_dir() -> Path:
    """The user state dir: journal and tool state (resource ids, rotation progress)."""
    return Path(platformdirs.user_state_dir(APP_NAME))


def debug_log_path() -> Path:
    """Where the TUI writes its debug log when none is named (stderr is the TUI's screen)."""
    return Path(platformdirs.user_log_dir(APP_NAME)) / "debug.log"


def shipped_assets_dir() -> Path:
    """The four default brand PNGs: ``assets/`` in a checkout, package data in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "assets", here / "_shipped_assets"):
        if candidate.is_dir():
            return candidate
    return here.parent / "assets"
