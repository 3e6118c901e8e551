"""Plans read in full at 80 columns, and the confirmation's plan can be focused and scrolled."""

from __future__ import annotations

import re
from pathlib import Path

from textual.app import App, ComposeResult

from polaris_tui.steps.base import Action, Change
from screens.app import create_app
from screens.confirm import confirm_apply
from screens.plan_view import PlanView
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text

SPF_OLD = "v=spf1 include:_spf.mx.cloudflare.net include:relay.mailhost.example ~all"
SPF_NEW = "v=spf1 include:_spf.mx.cloudflare.net include:relay.mailhost.example -all"
RUA = "rua=mailto:dmarc-reports@polaris-reports.example.com"


def spf_update() -> Change:
    record = {"id": "r1", "type": "TXT", "name": "example.com", "ttl": 1}
    return Change(
        Action.UPDATE,
        "dns_record",
        f"TXT example.com {SPF_NEW}",
        {**record, "content": SPF_OLD},
        {**record, "content": SPF_NEW},
    )


def long_plan() -> list[Change]:
    a = {"type": "A", "name": "mail.example.com", "content": "203.0.113.10", "ttl": 1}
    dmarc = f"v=DMARC1; p=quarantine; {RUA}; adkim=s; aspf=s"
    return [
        Change(
            Action.UPDATE,
            "dns_record",
            "A mail.example.com",
            {**a, "proxied": False},
            {**a, "proxied": True},
        ),
        spf_update(),
        Change(
            Action.CREATE,
            "dns_record",
            "TXT _dmarc.example.com",
            None,
            {"type": "TXT", "name": "_dmarc.example.com", "content": dmarc, "ttl": 1},
        ),
    ]


def test_an_update_always_says_what_it_changes_to() -> None:
    change = spf_update()
    assert change.before_text() == f"content={SPF_OLD}"
    assert change.after_text() == f"content={SPF_NEW}"


async def test_confirmation_reads_in_full_and_scrolls_at_80x24(
    config_file: Path, memory_keyring
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    changes = long_plan() * 3
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = confirm_apply("DNS records", changes, "example.com")
        await app.push_screen(screen)
        await pilot.pause()
        seen = [screen_text(app)]
        assert "Cancel" in seen[0]  # the buttons stay on screen whatever the plan's length
        plan = screen.query_one(PlanView)
        assert plan.max_scroll_y > 0
        await pilot.press("shift+tab")  # from Apply back to the plan
        assert app.focused is plan
        while plan.scroll_y < plan.max_scroll_y:
            await pilot.press("pagedown")
            await pilot.pause()
            seen.append(screen_text(app))
        text = "\n".join(seen)
        assert "proxied=True" in text and "proxied=False" in text, text
        assert "~all" in text and "-all" in text, text  # the two SPF values differ in their tail
        assert RUA in text, text


class PlanHost(App[None]):
    """Just the plan, at the width the step panel gives it in an 80-column terminal."""

    def compose(self) -> ComposeResult:
        yield PlanView(long_plan(), classes="plan")


async def test_the_step_panel_shows_every_value_at_80_columns() -> None:
    app = PlanHost()
    async with app.run_test(size=(44, 40)) as pilot:  # 80 minus the sidebar and padding
        await pilot.pause()
        text = screen_text(app)
        assert "proxied=True" in text and "-all" in text and "~all" in text, text
        assert RUA in "".join(line.strip() for line in text.splitlines()), text  # folded


async def test_typed_deletion_dialog_fits_80x24(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    delete = Change(Action.DELETE, "dns_record", f"TXT example.com {SPF_OLD}", owned=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(confirm_apply("SPF and DMARC", [delete, *long_plan()], "example.com"))
        await pilot.pause()
        text = screen_text(app)
        assert "Type example.com to confirm" in text, text
        assert re.search(r"Apply\s+Cancel", text), text  # both buttons, not only the footer
