"""What the steps need from the world, as Protocols over the project's own frozen dataclasses.

Steps see only these types: the adapters (``polaris_tui.adapters``) implement them over the
Cloudflare SDK, boto3, dnspython and httpx, and raise the port errors of ``polaris_tui.errors``
instead of a vendor's exceptions, so a step never imports, catches or parses an SDK object.
Every port that reaches the world is asynchronous: the Cloudflare SDK and boto3 are
synchronous, so their adapters run each call with ``asyncio.to_thread`` and steps overlap
independent reads with ``asyncio.gather``. Two kinds of method stay synchronous: local checks
that make no request (``Workers.validate_metadata``) and ``Mailbox.find``, which its one
caller polls from a thread. The vault (``polaris_tui.vault``) is synchronous too: a keyring
read is local and bounded by its own timeout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

OWNER_COMMENT = "managed by polaris-tui"
# An existing record the tool updated in place: managed from then on, but not the tool's to
# delete (destroy leaves it; it was the operator's before).
ADOPTED_COMMENT = OWNER_COMMENT + "; updated in place, it existed before"


def unquote(content: str) -> str:
    """TXT content as one string: the API may return it quoted or split into quoted chunks."""
    text = content.strip()
    if text.startswith('"') and text.endswith('"'):
        parts = text[1:-1].split('" "')
        return "".join(parts)
    return text


# -- DNS records --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """A DNS record as the API reports it (TXT content without surrounding quotes)."""

    type: str
    name: str
    content: str
    proxied: bool = False
    ttl: int = 1
    priority: int | None = None
    id: str | None = None
    comment: str | None = None

    @property
    def owned(self) -> bool:
        return (self.comment or "").startswith(OWNER_COMMENT)

    @property
    def created_by_tool(self) -> bool:
        """Created by polaris-tui (not an existing record it adopted): destroy may delete it."""
        return (self.comment or "").strip() == OWNER_COMMENT

    def display(self) -> str:
        """``TYPE name content`` as an operator would compare it with dig."""
        extra = f" (priority {self.priority})" if self.priority is not None else ""
        proxy = " [proxied]" if self.proxied else ""
        return f"{self.type} {self.name} {self.content}{extra}{proxy}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "content": self.content,
            "proxied": self.proxied,
            "ttl": self.ttl,
        }
        if self.priority is not None:
            out["priority"] = self.priority
        if self.id:
            out["id"] = self.id
        return out

    def same_as(self, other: Record) -> bool:
        """Equal in what DNS serves and the tool manages: type, name (any case, with or
        without the root dot), value (a hostname in any case, TXT quoted or not), proxying
        and an MX's priority; not id, ttl or comment. The one rule every step compares by."""
        return self._served() == other._served()

    def _served(self) -> tuple[Any, ...]:
        if self.type in ("CNAME", "MX"):
            value = self.content.rstrip(".").lower()
        elif self.type == "TXT":
            value = unquote(self.content)
        else:
            value = self.content
        priority = self.priority if self.type == "MX" else None
        return (self.type, self.name.rstrip(".").lower(), value, self.proxied, priority)


class DnsRecords(Protocol):
    """The zone's records."""

    async def list(self, *, name: str | None = None, type: str | None = None) -> list[Record]:
        """Records at ``name`` (exact) and/or of ``type``, every page."""
        ...

    async def batch(
        self, *, deletes: Sequence[str], patches: Sequence[Record], posts: Sequence[Record]
    ) -> None:
        """Delete (by id), patch (records with ids) and create records in one request."""
        ...


# -- Email Routing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoutingSettings:
    enabled: bool
    status: str


@dataclass(frozen=True)
class RoutingRule:
    id: str
    name: str
    enabled: bool
    matchers: tuple[tuple[str, str], ...]  # (type, value): ("literal", "dmarc@…"), ("all", "")
    actions: tuple[str, ...]  # action types: forward, worker, drop


@dataclass(frozen=True)
class DestinationAddress:
    email: str
    verified: bool
    id: str = ""


class EmailRouting(Protocol):
    async def settings(self) -> RoutingSettings: ...

    async def enable(self, name: str) -> None:
        """Turn Email Routing on (Cloudflare adds its MX and SPF records)."""
        ...

    async def rules(self) -> list[RoutingRule]: ...

    async def create_forward_rule(self, name: str, to: str, forward: str) -> str:
        """A rule forwarding ``to`` to the address ``forward``; returns the rule id."""
        ...

    async def addresses(self) -> list[DestinationAddress]:
        """The account's destination addresses."""
        ...

    async def create_address(self, email: str) -> None: ...

    async def delete_address(self, address_id: str) -> None: ...

    async def delete_rule(self, rule_id: str) -> None: ...

    async def disable(self) -> None:
        """Turn Email Routing off (Cloudflare removes the MX records it added)."""
        ...


# -- Email Sending ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendingDomain:
    """An Email Sending (sub)domain as the API reports it, whichever field spelling it uses."""

    tag: str
    name: str
    enabled: bool
    dkim_selector: str | None = None
    return_path_domain: str | None = None
    created: datetime | None = None


class EmailSending(Protocol):
    async def domains(self) -> list[SendingDomain]: ...

    async def get(self, tag: str) -> SendingDomain: ...

    async def create(self, name: str) -> SendingDomain: ...

    async def required_records(self, tag: str) -> list[Record]:
        """The records Cloudflare asks for, with absolute names, as the DNS API stores them."""
        ...

    async def delete(self, tag: str) -> None: ...


# -- Workers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerSettings:
    """A script's settings: its compatibility date and bindings (no secret values)."""

    compatibility_date: str | None
    bindings: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class WorkerRoute:
    id: str
    pattern: str
    script: str | None


@dataclass(frozen=True)
class WorkerDomain:
    hostname: str
    service: str
    id: str = ""


class Workers(Protocol):
    async def settings(self, script: str) -> WorkerSettings:
        """Raises NotFound when the script does not exist."""
        ...

    async def migration_tag(self, script: str) -> str | None:
        """The tag of the script's last Durable Object migration; None when it has none
        or does not exist."""
        ...

    async def content(self, script: str, module: str) -> str:
        """The source of ``module`` as deployed; raises NotFound when the script does not exist."""
        ...

    def validate_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Check upload metadata against the API's types; raises MetadataError naming the field.

        Local (no request), so synchronous."""
        ...

    async def upload(
        self, script: str, metadata: Mapping[str, Any], files: Sequence[tuple[str, bytes, str]]
    ) -> None: ...

    async def secret_names(self, script: str) -> set[str]:
        """Names of the script's secrets; raises NotFound when the script does not exist."""
        ...

    async def put_secret(self, script: str, name: str, value: str) -> None: ...

    async def update_secrets(self, script: str, changes: Mapping[str, str | None]) -> None:
        """All secret changes in one version (None removes a secret)."""
        ...

    async def routes(self) -> list[WorkerRoute]:
        """The zone's Worker Routes."""
        ...

    async def create_route(self, pattern: str, script: str) -> str: ...

    async def update_route(self, route_id: str, pattern: str, script: str) -> None: ...

    async def domains(self, hostname: str) -> list[WorkerDomain]:
        """Worker Custom Domains at ``hostname``."""
        ...

    async def attach_domain(self, hostname: str, service: str) -> None:
        """Raises Conflict (100116 taken, 100117 records in the way)."""
        ...

    async def detach_domain(self, domain_id: str) -> None: ...

    async def delete_route(self, route_id: str) -> None: ...

    async def delete_script(self, script: str) -> None:
        """Delete the script with its secrets and bindings (``force``: even when bound)."""
        ...


# -- KV -----------------------------------------------------------------------------------------
class KvNamespaces(Protocol):
    async def titles(self) -> dict[str, str]:
        """Every namespace of the account as title -> id."""
        ...

    async def create(self, title: str) -> str:
        """Create a namespace and return its id; raises ApiError 10014 on a taken title."""
        ...

    async def delete(self, namespace_id: str) -> None: ...

    async def value(self, namespace_id: str, key: str) -> str | None:
        """The value stored under ``key`` as text; None when the key is absent or expired."""
        ...


# -- R2 -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class R2CustomDomain:
    domain: str
    enabled: bool
    ownership: str
    ssl: str

    @property
    def active(self) -> bool:
        return self.ownership == "active" and self.ssl == "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "enabled": self.enabled,
            "status": {"ownership": self.ownership, "ssl": self.ssl},
        }


class R2(Protocol):
    async def bucket_exists(self, name: str) -> bool: ...

    async def create_bucket(self, name: str) -> None:
        """Raises Conflict 10004 when the bucket exists."""
        ...

    async def object_etags(self, bucket: str, prefix: str) -> dict[str, str]:
        """key -> ETag (lowercase, unquoted) of every object under ``prefix``."""
        ...

    async def put_object(
        self, bucket: str, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> None:
        """Upload with a Content-MD5, so a corrupted transfer is refused."""
        ...

    async def custom_domains(self, bucket: str) -> list[R2CustomDomain]: ...

    async def custom_domain(self, bucket: str, domain: str) -> R2CustomDomain:
        """Raises NotFound when ``domain`` is not attached to ``bucket``."""
        ...

    async def attach_custom_domain(self, bucket: str, domain: str) -> None: ...

    async def enable_custom_domain(self, bucket: str, domain: str) -> None: ...

    async def detach_custom_domain(self, bucket: str, domain: str) -> None: ...

    async def delete_objects(self, bucket: str, keys: Sequence[str]) -> None: ...

    async def delete_bucket(self, name: str) -> None:
        """Raises Conflict when the bucket is not empty or has custom domains."""
        ...


# -- probers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DnsAnswer:
    server: str
    rcode: str  # NOERROR, NXDOMAIN, SERVFAIL, TIMEOUT, ...
    records: tuple[str, ...] = ()
    authoritative: bool = False

    @property
    def ok(self) -> bool:
        return self.rcode == "NOERROR"


class DnsProber(Protocol):
    resolvers: list[tuple[str, int]]
    timeout: float

    async def authoritative_servers(self) -> list[tuple[str, int]]: ...

    async def ask_authoritative(self, name: str, rdtype: str) -> list[DnsAnswer]: ...

    async def ask_public(self, name: str, rdtype: str) -> list[DnsAnswer]: ...


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)  # lowercase names
    content: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class HttpProber(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> HttpResponse:
        """Raises Unavailable when nothing answers."""
        ...


# -- Mailbox ------------------------------------------------------------------------------------
class Mailbox(Protocol):
    """Where delivered mail can be read back (the sandbox inbox, or an IMAPS mailbox), so a
    test message's authentication is judged from what the receiving server wrote into it."""

    @property
    def description(self) -> str:
        """Where it reads, for the operator (never a password)."""
        ...

    def find(self, message_id: str) -> bytes | None:
        """The raw message whose Message-ID is ``<message_id>``, None while it is not there;
        raises Unavailable when the mailbox cannot be read."""
        ...
