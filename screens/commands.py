"""Command palette entries: run a step, verify all, rotate, settings, history, help.

Each entry runs one of the app's actions by name, so the palette needs no handle on the app
class; the steps come from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from polaris_tui.steps.catalog import STEPS


class PolarisCommands(Provider):
    """The runbook's actions by name, so nothing needs a remembered key."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        def run(action: str) -> Callable[[], object]:
            return partial(self.app.run_action, action)

        for step in STEPS:
            yield (
                f"Run step {step.id}: {step.title}",
                run(f"run_step({step.id!r})"),
                "Open the step, show its plan and ask to apply it",
            )
        yield "Verify all", run("verify_all"), "Run every check of every step"
        yield (
            "Rotate secret (emergency)",
            run("open_rotation('emergency')"),
            "The signing secret leaked: replace it now (one confirmation)",
        )
        yield "Rotate secret (graceful)", run("open_rotation('graceful')"), "New secret as B"
        yield "Open settings", run("settings"), "Edit the config and the keyring secrets"
        yield "Destroy", run("destroy"), "Remove what polaris-tui created (type the domain)"
        yield "Open history", run("history"), "The journal of applies"
        yield "Help", run("help"), "Keys and step states"

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
