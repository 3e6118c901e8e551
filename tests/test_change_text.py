"""How a planned change reads in the CLI and the plan table: only what the operator needs."""

from __future__ import annotations

from polaris_tui.steps.base import Action, Change

RECORD = {"id": "abc123", "type": "A", "name": "mail.example.com", "content": "192.0.2.10"}


def test_an_update_shows_only_what_changes_and_never_the_api_id() -> None:
    change = Change(
        Action.UPDATE,
        "dns_record",
        "A mail.example.com",
        {**RECORD, "proxied": False},
        {**RECORD, "proxied": True},
    )
    assert change.before_text() == "proxied=False"
    assert change.after_text() == "proxied=True"


def test_a_create_does_not_repeat_what_the_target_already_says() -> None:
    target = "TXT example.com v=spf1 include:_spf.mx.cloudflare.net -all"
    after = {"type": "TXT", "name": "example.com", "content": target.split(" ", 2)[2], "ttl": 1}
    change = Change(Action.CREATE, "dns_record", target, None, after)
    assert change.before_text() == ""
    assert change.after_text() == "ttl=1"


def test_nested_values_read_as_key_value_lists() -> None:
    change = Change(
        Action.CREATE, "worker_script", "w", None, {"bindings": [{"type": "kv", "name": "K"}]}
    )
    assert change.after_text() == "bindings=[type=kv, name=K]"
