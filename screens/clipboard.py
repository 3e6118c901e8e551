"""Whether an OSC 52 copy can reach the operator's clipboard, and what to say when it cannot.

The terminal never answers an OSC 52 write, so only the cases we can see are reported: no
terminal at all (headless), or tmux set to drop clipboard writes from programs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping


def _tmux_set_clipboard(env: Mapping[str, str]) -> str | None:
    """tmux's ``set-clipboard`` option for the server in ``$TMUX``; None when it cannot be read."""
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=2,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def clipboard_problem(*, headless: bool, env: Mapping[str, str]) -> str | None:
    """Why a copy cannot reach the clipboard, or None when OSC 52 was sent to a terminal."""
    if headless:
        return "no terminal is attached"
    if env.get("TMUX"):
        setting = _tmux_set_clipboard(env)
        if setting is None:
            return "tmux's set-clipboard option could not be read, so tmux may drop it"
        if setting != "on":
            return (
                f"tmux drops clipboard writes from programs (set-clipboard is {setting!r}; "
                "`tmux set -g set-clipboard on` lets them through)"
            )
    return None


def copy_report(problem: str | None) -> str:
    """What the operator is told after pressing Copy."""
    if problem is None:
        return (
            "Sent to the terminal's clipboard (OSC 52). If nothing pastes, your terminal "
            "refuses OSC 52: press r to reveal and copy it by hand."
        )
    return (
        f"The clipboard could not be reached: {problem}. Press r to reveal the secret, select "
        "it with the mouse (in tmux hold shift) and copy it by hand, then press r to mask it."
    )
