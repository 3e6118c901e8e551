"""KV namespaces over the Cloudflare API."""

from __future__ import annotations

from dataclasses import dataclass

from polaris_tui.adapters.cloudflare_api import CloudflareApi, all_items, in_thread, translated
from polaris_tui.errors import NotFound

KEY_NOT_FOUND = 10009  # Cloudflare's code for an absent key (a missing namespace is 10013)


@dataclass
class CloudflareKv:
    api: CloudflareApi

    @in_thread
    def titles(self) -> dict[str, str]:
        with translated():
            pages = self.api.client.kv.namespaces.list(account_id=self.api.account_id, per_page=100)
            return {ns.title: ns.id for ns in all_items(pages)}

    @in_thread
    def create(self, title: str) -> str:
        with translated():
            made = self.api.client.kv.namespaces.create(account_id=self.api.account_id, title=title)
        return str(made.id)

    @in_thread
    def delete(self, namespace_id: str) -> None:
        with translated():
            self.api.client.kv.namespaces.delete(namespace_id, account_id=self.api.account_id)

    @in_thread
    def value(self, namespace_id: str, key: str) -> str | None:
        try:
            with translated():
                got = self.api.client.kv.namespaces.values.get(
                    key, account_id=self.api.account_id, namespace_id=namespace_id
                )
        except NotFound as exc:
            if KEY_NOT_FOUND in exc.codes:
                return None
            raise
        return got.text()
