"""Email Routing over the Cloudflare API: zone settings, rules, the account's addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polaris_tui.adapters.cloudflare_api import (
    CloudflareApi,
    all_items,
    dump,
    in_thread,
    translated,
)
from polaris_tui.ports import DestinationAddress, RoutingRule, RoutingSettings


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _rule(obj: Any) -> RoutingRule:
    return RoutingRule(
        id=str(_get(obj, "id") or ""),
        name=str(_get(obj, "name") or ""),
        enabled=_get(obj, "enabled") is not False,
        matchers=tuple(
            (str(_get(m, "type") or ""), str(_get(m, "value") or ""))
            for m in _get(obj, "matchers") or []
        ),
        actions=tuple(str(_get(a, "type") or "") for a in _get(obj, "actions") or []),
    )


@dataclass
class CloudflareEmailRouting:
    api: CloudflareApi

    @in_thread
    def settings(self) -> RoutingSettings:
        with translated():
            got = dump(self.api.client.email_routing.get(zone_id=self.api.zone_id))
        return RoutingSettings(bool(got.get("enabled")), str(got.get("status") or "unknown"))

    @in_thread
    def enable(self, name: str) -> None:
        with translated():
            self.api.client.email_routing.dns.create(zone_id=self.api.zone_id, name=name)

    @in_thread
    def rules(self) -> list[RoutingRule]:
        with translated():
            listed = all_items(self.api.client.email_routing.rules.list(zone_id=self.api.zone_id))
        return [_rule(r) for r in listed]

    @in_thread
    def create_forward_rule(self, name: str, to: str, forward: str) -> str:
        with translated():
            rule = self.api.client.email_routing.rules.create(
                zone_id=self.api.zone_id,
                name=name,
                enabled=True,
                matchers=[{"type": "literal", "field": "to", "value": to}],
                actions=[{"type": "forward", "value": [forward]}],
            )
        return str(_get(rule, "id"))

    @in_thread
    def addresses(self) -> list[DestinationAddress]:
        with translated():
            listed = all_items(
                self.api.client.email_routing.addresses.list(account_id=self.api.account_id)
            )
        return [
            DestinationAddress(
                str(_get(a, "email")), bool(_get(a, "verified")), str(_get(a, "id") or "")
            )
            for a in listed
        ]

    @in_thread
    def create_address(self, email: str) -> None:
        with translated():
            self.api.client.email_routing.addresses.create(
                account_id=self.api.account_id, email=email
            )

    @in_thread
    def delete_address(self, address_id: str) -> None:
        with translated():
            self.api.client.email_routing.addresses.delete(
                address_id, account_id=self.api.account_id
            )

    @in_thread
    def delete_rule(self, rule_id: str) -> None:
        with translated():
            self.api.client.email_routing.rules.delete(rule_id, zone_id=self.api.zone_id)

    @in_thread
    def disable(self) -> None:
        with translated():
            self.api.client.email_routing.dns.delete(zone_id=self.api.zone_id)
