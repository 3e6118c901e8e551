"""Command palette entries: run a step, verify all, rotate, settings, history, help."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from screens.app import PolarisApp


class PolarisCommands(Provider):
    """The runbook's actions by name, so nothing needs a remembered key."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app: PolarisApp = self.app  # type: ignore[assignment]
        for step in app.steps:
            yield (
                f"Run step {step.id}: {step.title}",
                partial(app.run_step, step.id),
                "Open the step, show its plan and ask to apply it",
            )
        yield "Verify all", app.action_verify_all, "Run every check of every step"
        yield (
            "Rotate secret (emergency)",
            partial(app.open_rotation, "emergency"),
            "The signing secret leaked: replace it now (one confirmation)",
        )
        yield "Rotate secret (graceful)", partial(app.open_rotation, "graceful"), "New secret as B"
        yield "Open settings", app.action_settings, "Edit the config and the keyring secrets"
        yield "Open history", app.action_history, "The journal of applies"
        yield "Help", app.action_help, "Keys and step states"

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
