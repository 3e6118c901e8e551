"""Workers over the Cloudflare API: scripts, their settings and secrets, routes, custom domains.

Upload metadata is checked against the SDK's own param types before an upload, because the
API has no dry run: a wrong binding is named here instead of failing half a deploy.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polaris_tui.adapters.cloudflare_api import CloudflareApi, in_thread, translated
from polaris_tui.adapters.worker_script import module_source
from polaris_tui.errors import MetadataError
from polaris_tui.ports import WorkerDomain, WorkerRoute, WorkerSettings


def _binding(obj: Any) -> dict[str, Any]:
    return obj.model_dump(exclude_none=True) if hasattr(obj, "model_dump") else dict(obj)


def validate_metadata(metadata: Mapping[str, Any]) -> None:
    """Check the metadata against the SDK's TypedDicts, binding by binding for clear errors."""
    from cloudflare.types.workers import script_update_params as params
    from pydantic import TypeAdapter, ValidationError

    members = {
        typing.get_args(typing.get_type_hints(m)["type"])[0]: m
        for m in typing.get_args(params.MetadataBinding)
        if "type" in typing.get_type_hints(m)
    }
    for i, binding in enumerate(metadata.get("bindings", [])):
        kind = binding.get("type")
        if kind not in members:
            raise MetadataError(f"metadata.bindings[{i}].type {kind!r} is not a binding type")
        try:
            TypeAdapter(members[kind]).validate_python(binding, strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise MetadataError(
                f"metadata.bindings[{i}] ({binding.get('name')}).{where}: {err['msg']}"
            ) from None
    rest = {k: v for k, v in metadata.items() if k != "bindings"}
    try:
        TypeAdapter(params.Metadata).validate_python(rest, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise MetadataError(
            f"metadata.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        ) from None


@dataclass
class CloudflareWorkers:
    api: CloudflareApi

    @property
    def _scripts(self) -> Any:
        return self.api.client.workers.scripts

    @in_thread
    def settings(self, script: str) -> WorkerSettings:
        with translated():
            got = self._scripts.script_and_version_settings.get(
                script, account_id=self.api.account_id
            )
        return WorkerSettings(
            got.compatibility_date, tuple(_binding(b) for b in (got.bindings or []))
        )

    @in_thread
    def migration_tag(self, script: str) -> str | None:
        # Only the script list carries it (as wrangler reads it); settings do not.
        with translated():
            listed = list(self._scripts.list(account_id=self.api.account_id))
        return next((s.migration_tag for s in listed if s.id == script), None)

    @in_thread
    def content(self, script: str, module: str) -> str:
        with translated():
            raw = self._scripts.with_raw_response.get(script, account_id=self.api.account_id)
        body, content_type = raw.http_response.content, raw.headers.get("content-type", "")
        return module_source(body, content_type, module).decode("utf-8", "replace")

    def validate_metadata(self, metadata: Mapping[str, Any]) -> None:
        validate_metadata(metadata)

    @in_thread
    def upload(
        self, script: str, metadata: Mapping[str, Any], files: Sequence[tuple[str, bytes, str]]
    ) -> None:
        with translated():
            self._scripts.update(
                script,
                account_id=self.api.account_id,
                metadata=dict(metadata),  # type: ignore[arg-type]
                files=list(files),
            )

    @in_thread
    def secret_names(self, script: str) -> set[str]:
        with translated():
            items = list(self._scripts.secrets.list(script, account_id=self.api.account_id))
        return {item.name for item in items if item.name}

    @in_thread
    def put_secret(self, script: str, name: str, value: str) -> None:
        with translated():
            self._scripts.secrets.update(
                script, account_id=self.api.account_id, name=name, text=value, type="secret_text"
            )

    @in_thread
    def update_secrets(self, script: str, changes: Mapping[str, str | None]) -> None:
        with translated():
            self._scripts.secrets.bulk_update(
                script,
                account_id=self.api.account_id,
                secrets={
                    name: (
                        None
                        if value is None
                        else {"name": name, "text": value, "type": "secret_text"}
                    )
                    for name, value in changes.items()
                },
            )

    @in_thread
    def routes(self) -> list[WorkerRoute]:
        with translated():
            listed = list(self.api.client.workers.routes.list(zone_id=self.api.zone_id))
        return [WorkerRoute(str(r.id), r.pattern, r.script) for r in listed]

    @in_thread
    def create_route(self, pattern: str, script: str) -> str:
        with translated():
            made = self.api.client.workers.routes.create(
                zone_id=self.api.zone_id, pattern=pattern, script=script
            )
        return str(made.id)

    @in_thread
    def update_route(self, route_id: str, pattern: str, script: str) -> None:
        with translated():
            self.api.client.workers.routes.update(
                route_id, zone_id=self.api.zone_id, pattern=pattern, script=script
            )

    @in_thread
    def domains(self, hostname: str) -> list[WorkerDomain]:
        with translated():
            listed = list(
                self.api.client.workers.domains.list(
                    account_id=self.api.account_id, hostname=hostname
                )
            )
        return [WorkerDomain(d.hostname, d.service, str(d.id or "")) for d in listed]

    @in_thread
    def attach_domain(self, hostname: str, service: str) -> None:
        with translated():
            self.api.client.workers.domains.update(
                account_id=self.api.account_id,
                hostname=hostname,
                service=service,
                zone_id=self.api.zone_id,
            )

    @in_thread
    def detach_domain(self, domain_id: str) -> None:
        with translated():
            self.api.client.workers.domains.delete(domain_id, account_id=self.api.account_id)

    @in_thread
    def delete_route(self, route_id: str) -> None:
        with translated():
            self.api.client.workers.routes.delete(route_id, zone_id=self.api.zone_id)

    @in_thread
    def delete_script(self, script: str) -> None:
        with translated():
            self._scripts.delete(script, account_id=self.api.account_id, force=True)
