"""Engine facts and API errors read as words; the raw answer only behind "details"."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Collapsible

from screens.app import create_app
from screens.readable import fact_lines, readable_error
from screens.step_panel import StepPanel
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text

SDK_403 = (
    "Error code: 403 - {'success': False, 'errors': [{'code': 10000, 'message': "
    "'Authentication error'}], 'messages': [], 'result': None} (Cloudflare error 10000)"
)


def test_facts_read_as_words_and_lists() -> None:
    lines = fact_lines(
        {
            "routing_enabled": False,
            "required_records": [],
            "records": ["MX cf-bounce.example.com route1.mx.cloudflare.net (priority 13)"],
            "custom_domain": {
                "status": {"ownership": "active", "ssl": "active"},
                "ciphers": None,
                "min_tls": "1.0",
                "minTLS": "1.0",
            },
            "objects": {"polaris-logo-160.png": "current"},
        }
    )
    assert lines == [
        "Routing enabled: no",
        "Required records: none",
        "Records:",
        "  • MX cf-bounce.example.com route1.mx.cloudflare.net (priority 13)",
        "Custom domain: status ownership active, ssl active, min tls 1.0",
        "Objects: polaris-logo-160.png current",
    ]


def test_an_sdk_error_reads_as_a_sentence_with_the_body_apart() -> None:
    sentence, raw = readable_error(SDK_403)
    assert sentence == "Cloudflare answered HTTP 403: Authentication error (code 10000)"
    assert raw.startswith("{'success': False")
    assert readable_error("the keyring is locked") == ("the keyring is locked", "")


async def test_failure_shows_the_sentence_and_hides_the_body(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "b")  # KV, then hide the sidebar
        await settle(pilot)
        box = app.session.sandbox  # type: ignore[union-attr]
        box.set_faults("GET:*/storage/kv/namespaces*:403")
        await pilot.press("p")
        await settle(pilot)
        panel = app.query_one("#panel-kv", StepPanel)
        panel.query_one(".failure-message").scroll_visible(top=True, animate=False)
        await pilot.pause()
        text = screen_text(app)
        assert "Cloudflare answered HTTP 403" in text and "{'success'" not in text, text
        details = panel.query_one(Collapsible)
        assert details.collapsed
        details.collapsed = False
        await pilot.pause()
        details.scroll_visible(top=True, animate=False)
        await pilot.pause()
        assert "'success': False" in screen_text(app)
