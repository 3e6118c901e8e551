"""Engine guidance names CLI commands; inside the TUI the same advice names the keys.

The catalog and the engine's messages are written once, for the CLI (``polaris-tui apply
auth``); this rewrites each command the TUI can do into where to go and what to press, so an
operator in the TUI is never sent to a shell for something one key does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from polaris_tui.steps.catalog import STEPS

TITLES = {s.id: s.title for s in STEPS}
_STEP = "|".join(sorted(map(re.escape, TITLES), key=len, reverse=True))
ROTATE_KEYS = {"graceful": "g", "promote": "p", "emergency": "E"}


def _step(verb: str) -> Callable[[re.Match[str]], str]:
    def say(m: re.Match[str]) -> str:
        title = TITLES[m["step"]]
        if verb == "plan":
            return f"select “{title}” in the sidebar (its plan is on its page)"
        key = "a" if verb == "apply" else "c"
        return f"select “{title}” in the sidebar and press {key}"

    return say


def _rotate(m: re.Match[str]) -> str:
    key = ROTATE_KEYS.get(m["mode"])
    if key is None:
        return "press ctrl+r and run the same rotation again"
    return f"press ctrl+r then {key} ({m['mode']})"


RULES: tuple[tuple[str, str | Callable[[re.Match[str]], str]], ...] = (
    (
        rf"`?polaris-tui apply (?P<step>{_STEP}) --allow-delete`?",
        lambda m: _step("apply")(m) + " (deleting asks you to type the hostname)",
    ),
    (r"`polaris-tui apply all`", "press A (apply all)"),  # quoted advice, not a process name
    (rf"`?polaris-tui apply (?P<step>{_STEP})`?", _step("apply")),
    (rf"`?polaris-tui verify (?P<step>{_STEP})`?", _step("verify")),
    (rf"`?polaris-tui plan (?P<step>{_STEP})`?", _step("plan")),
    (r"`?polaris-tui verify`?", "press v"),
    (r"`?polaris-tui rotate --(?P<mode><mode>|[a-z]+)`?", _rotate),
    (
        r"`?polaris-tui secrets set (?P<name>[a-z0-9-]+)`?",
        r"press s and fill in \g<name> under Credentials",
    ),
    (r"`?polaris-tui secrets status`?", "press s (the keyring is named at the top)"),
    (
        r"`?polaris-tui config set (?P<field>[a-z0-9_]+) [^`]*`?",
        r"press s and change \g<field>",
    ),
)


# "re-run `cmd`" reads "select … press a"; "store it with `cmd`" reads "store it: press s …"
LEAD = r"(?P<lead> with |(?:[Rr]e-)?[Rr]un (?:the same )?)?"


def for_tui(text: str) -> str:
    """``text`` with every command the TUI has a key for rewritten as that key."""
    for pattern, replacement in RULES:

        def say(m: re.Match[str], replacement=replacement) -> str:  # type: ignore[no-untyped-def]
            out = replacement(m) if callable(replacement) else m.expand(replacement)
            lead = m["lead"] or ""
            if lead == " with ":
                return ": " + out
            return out[:1].upper() + out[1:] if lead[:1].isupper() else out

        text = re.sub(LEAD + pattern, say, text)
    return text
