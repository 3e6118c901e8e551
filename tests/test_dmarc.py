"""DMARC merge rules and the policy-strength comparison (pure)."""

from __future__ import annotations

import pytest

from polaris_tui import dmarc

PLANNED = dmarc.Planned("none", "dmarc-reports@example.com")
RUNBOOK = "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com; fo=1; aspf=r; adkim=r; pct=100"


def test_new_record_is_the_runbook_record() -> None:
    assert dmarc.merge([], PLANNED) == RUNBOOK
    assert dmarc.merge([RUNBOOK], PLANNED) == RUNBOOK


def test_operator_tags_are_kept_and_managed_tags_set() -> None:
    existing = "v=DMARC1;p=none; sp=reject; ruf=mailto:f@example.com; fo=0; pct=20; ri=3600"
    assert dmarc.merge([existing], PLANNED) == (
        RUNBOOK + "; sp=reject; ruf=mailto:f@example.com; ri=3600"
    )


def test_extra_rua_destinations_are_kept_after_ours() -> None:
    existing = "v=DMARC1; p=none; rua=mailto:a@vendor.example,mailto:dmarc-reports@example.com"
    merged = dict(dmarc.parse(dmarc.merge([existing], PLANNED)))
    assert merged["rua"] == "mailto:dmarc-reports@example.com,mailto:a@vendor.example"


def test_policy_strength() -> None:
    assert dmarc.policy("v=DMARC1; p=Reject") == "reject"
    assert dmarc.policy("v=DMARC1; rua=mailto:x@example.com") == "none"
    assert dmarc.strongest(["v=DMARC1; p=none", "v=DMARC1; p=quarantine"]) == "quarantine"
    assert dmarc.weakens("quarantine", "none")
    assert dmarc.weakens("reject", "quarantine")
    assert not dmarc.weakens("none", "reject")
    assert not dmarc.weakens("reject", "reject")


def test_same_ignores_spacing_only() -> None:
    assert dmarc.same("v=DMARC1;p=none", "v=DMARC1; p=none")
    assert not dmarc.same("v=DMARC1; p=none", "v=DMARC1; p=reject")


def test_not_dmarc_is_refused() -> None:
    assert not dmarc.is_dmarc("v=spf1 -all")
    with pytest.raises(dmarc.DmarcError, match="v=DMARC1"):
        dmarc.parse("v=spf1 -all")
