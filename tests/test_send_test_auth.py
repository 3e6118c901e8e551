"""`send-test` reports the receiving server's SPF/DKIM/DMARC verdict after `demo`, from the
stored message's own Authentication-Results, and fails with the matching guidance for a DKIM
record edited wrong or an SPF record without Cloudflare's include. `verify` judges the same
way in `delivery.authenticated`, and `plan` says a message will be sent.

Everything runs as the operator runs it: the console script against one sandbox folder;
the breakages are edits through the sandbox's Cloudflare API, as an operator's would be.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from polaris_tui.sandbox import Sandbox
from tests.runtime_helpers import run_cli

DOMAIN = "polaris.test"
DKIM_NAME = f"cf-bounce._domainkey.{DOMAIN}"
RETURN_PATH = f"cf-bounce.{DOMAIN}"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("auth") / "sandbox"
    out = run_cli(directory, "demo", "--json", timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return directory


def _set_txt(directory: Path, name: str, change: Callable[[str], str]) -> str:
    """Edit the zone's TXT record at ``name`` through the sandbox API (the real SDK), as an
    operator would in the dashboard; returns its content before the edit."""
    import cloudflare

    with Sandbox(directory) as ep:
        cf = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api)
        (record,) = cf.dns.records.list(zone_id=ep.zone_id, name={"exact": name}, type="TXT")
        before = str(record.content)
        cf.dns.records.edit(
            record.id, zone_id=ep.zone_id, type="TXT", name=name, content=change(before), ttl=1
        )
    return before


def _send_test(directory: Path) -> tuple[int, dict[str, Any], str]:
    out = run_cli(directory, "send-test", "--to", "someone@example.org", "--json")
    return out.returncode, json.loads(out.stdout), out.stderr


def test_send_test_after_demo_reports_spf_dkim_dmarc_pass(demo_dir: Path) -> None:
    code, report, err = _send_test(demo_dir)
    assert code == 0, err
    assert report["status"] == 202 and report["slot"] == "A" and report["message_id"]
    auth = report["authentication"]
    assert (auth["spf"], auth["dkim"], auth["dmarc"]) == ("pass", "pass", "pass")
    stored = [
        p.read_bytes()
        for p in (demo_dir / "inbox").glob("*.eml")
        if f"<{report['message_id']}>".encode() in p.read_bytes()
    ]
    assert len(stored) == 1 and b"Authentication-Results: " in stored[0]
    assert "DKIM-Signature" in stored[0].decode()


def test_a_dkim_record_edited_wrong_fails_dkim_with_the_dkim_guidance(demo_dir: Path) -> None:
    def one_character_off(content: str) -> str:
        head, key = content.split("p=")
        other = "A" if key[60] != "A" else "B"
        return f"{head}p={key[:60]}{other}{key[61:]}"

    original = _set_txt(demo_dir, DKIM_NAME, one_character_off)
    try:
        code, report, err = _send_test(demo_dir)
    finally:
        _set_txt(demo_dir, DKIM_NAME, lambda _c: original)
    assert code == 1
    assert report["authentication"]["dkim"] == "fail"
    assert report["authentication"]["spf"] == "pass"
    assert "Delivered mail fails DKIM" in err and "Delivered mail fails SPF" not in err


def test_spf_without_the_cloudflare_include_fails_spf_with_the_spf_guidance(
    demo_dir: Path,
) -> None:
    original = _set_txt(
        demo_dir, RETURN_PATH, lambda c: c.replace("include:_spf.mx.cloudflare.net ", "")
    )
    try:
        code, report, err = _send_test(demo_dir)
    finally:
        _set_txt(demo_dir, RETURN_PATH, lambda _c: original)
    assert "include:_spf.mx.cloudflare.net" in original
    assert code == 1
    assert report["authentication"]["spf"] in ("fail", "softfail")
    assert report["authentication"]["dkim"] == "pass"
    assert "Delivered mail fails SPF" in err and "Delivered mail fails DKIM" not in err


def test_verify_judges_one_delivered_message_and_plan_says_so(demo_dir: Path) -> None:
    plan = run_cli(demo_dir, "plan", "route", "--json")
    (route,) = json.loads(plan.stdout)["steps"]
    assert any("sends one signed test message" in n for n in route["notes"]), plan.stdout
    out = run_cli(demo_dir, "verify", "route", "--json")
    checks = {c["id"]: c for c in json.loads(out.stdout)["checks"]}
    check = checks["delivery.authenticated"]
    assert check["ok"], check
    assert "spf=pass dkim=pass dmarc=pass" in check["detail"]


def test_verify_fails_delivery_with_the_dkim_guidance_for_a_wrong_key(demo_dir: Path) -> None:
    original = _set_txt(demo_dir, DKIM_NAME, lambda c: c.replace("p=", "p=AAAA"))
    try:
        out = run_cli(demo_dir, "verify", "route", "--json")
    finally:
        _set_txt(demo_dir, DKIM_NAME, lambda _c: original)
    assert out.returncode == 1
    check = {c["id"]: c for c in json.loads(out.stdout)["checks"]}["delivery.authenticated"]
    assert not check["ok"] and "dkim=fail" in check["detail"]
    assert check["guidance"].startswith("Delivered mail fails DKIM")
