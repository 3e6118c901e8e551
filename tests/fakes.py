"""In-memory port implementations for pure tests (the sandbox stays for real protocols).

Each fake keeps what a real account would hold, answers as the account does (the API's
filters, Cloudflare's side effects such as Email Routing's own MX and SPF records, the port
errors with Cloudflare's codes) and counts the calls made to it, so a test can tell how many
times the world was asked. Like the ports, their methods are coroutines; ``at``, ``add`` and
``activate`` are the synchronous hands a test arranges the world with. The HTTP prober
answers as Cloudflare's edge and the relay Worker do, from what the fake account holds (a
route, the Worker's secrets, R2's objects); the vault is the real one over an in-memory
keyring. ``fake_context`` wires them into a Context the way the session root wires the
adapters, reads shared through one observation included.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from polaris_tui.config import Config, validate
from polaris_tui.context import Context, Endpoints
from polaris_tui.errors import ApiError, Conflict, NotFound, Unavailable
from polaris_tui.journal import Journal
from polaris_tui.observation import observed
from polaris_tui.ports import (
    DestinationAddress,
    DnsAnswer,
    HttpResponse,
    R2CustomDomain,
    Record,
    RoutingRule,
    RoutingSettings,
    SendingDomain,
    WorkerDomain,
    WorkerRoute,
    WorkerSettings,
    unquote,
)
from polaris_tui.relay.signing import canonical_string, verify
from polaris_tui.state import StateStore
from polaris_tui.steps.secret import BINDING_A, BINDING_B
from polaris_tui.vault import Vault
from tests.conftest import MemoryKeyring

ADDRESS_TYPES = ("A", "AAAA", "CNAME")
ROUTING_MX = ("route1.mx.cloudflare.net", "route2.mx.cloudflare.net", "route3.mx.cloudflare.net")
ROUTING_SPF = "v=spf1 include:_spf.mx.cloudflare.net ~all"
EDGE_IPV4, EDGE_IPV6 = "104.16.0.1", "2606:4700::1"  # what a proxied record answers


@dataclass
class FakeDnsRecords:
    """A zone's records; ``list`` filters as the API does (name in any case, exact type);
    ``batch`` refuses what Cloudflare refuses (an unknown id, a CNAME beside other records)."""

    records: list[Record] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _next: int = 0

    def add(self, rec: Record) -> Record:
        """Create a record as the API does (for arranging a test): the name is stored in
        lowercase without the root dot, and the record gets an id."""
        self._next += 1
        made = replace(rec, name=rec.name.rstrip(".").lower(), id=f"r{self._next}")
        self.records.append(made)
        return made

    def at(self, name: str | None = None, type: str | None = None) -> list[Record]:
        """The records at ``name`` and/or of ``type``, filtered as the API filters."""
        return [
            r
            for r in self.records
            if (name is None or r.name.lower() == name.lower()) and (type is None or r.type == type)
        ]

    async def list(self, *, name: str | None = None, type: str | None = None) -> list[Record]:
        self.calls["list"] += 1
        return self.at(name, type)

    async def batch(
        self, *, deletes: Sequence[str], patches: Sequence[Record], posts: Sequence[Record]
    ) -> None:
        self.calls["batch"] += 1
        known = {r.id for r in self.records}
        for ident in [*deletes, *(p.id for p in patches)]:
            if ident not in known:
                raise NotFound("Record does not exist.", status=404, codes=[81044])
        by_id = {r.id: r for r in patches}
        after = [by_id.get(r.id, r) for r in self.records if r.id not in deletes]
        for rec in posts:
            clash = [
                r
                for r in after
                if r.name.lower() == rec.name.lower()
                and r.type in ADDRESS_TYPES
                and rec.type in ADDRESS_TYPES
                and "CNAME" in (r.type, rec.type)
            ]
            if clash:
                raise ApiError(
                    "An A, AAAA, or CNAME record with that host already exists.",
                    status=400,
                    codes=[81053],
                )
            self._next += 1
            after.append(replace(rec, id=f"r{self._next}"))
        self.records = after  # one request: all of it applies, or none


@dataclass
class FakeEmailRouting:
    """Email Routing of one zone; enabling it writes Cloudflare's MX and SPF records."""

    zone: FakeDnsRecords
    domain: str
    enabled: bool = False
    rule_list: list[RoutingRule] = field(default_factory=list)
    address_list: list[DestinationAddress] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    async def settings(self) -> RoutingSettings:
        self.calls["settings"] += 1
        return RoutingSettings(self.enabled, "ready" if self.enabled else "unconfigured")

    async def enable(self, name: str) -> None:
        self.calls["enable"] += 1
        if self.enabled:
            return
        self.enabled = True
        for priority, host in zip((13, 24, 86), ROUTING_MX, strict=True):
            self.zone.add(Record("MX", self.domain, host, priority=priority))
        self.zone.add(Record("TXT", self.domain, ROUTING_SPF))

    async def rules(self) -> list[RoutingRule]:
        self.calls["rules"] += 1
        return list(self.rule_list)

    async def create_forward_rule(self, name: str, to: str, forward: str) -> str:
        self.calls["create_forward_rule"] += 1
        if not any(a.email == forward for a in self.address_list):
            raise NotFound("Destination address not found.", status=404, codes=[2020])
        ident = f"rule-{len(self.rule_list) + 1}"
        self.rule_list.append(RoutingRule(ident, name, True, (("literal", to),), ("forward",)))
        return ident

    async def addresses(self) -> list[DestinationAddress]:
        self.calls["addresses"] += 1
        return list(self.address_list)

    async def create_address(self, email: str) -> None:
        self.calls["create_address"] += 1
        if any(a.email == email for a in self.address_list):
            raise ApiError(f"Destination address {email} already exists.", status=400, codes=[2032])
        self.address_list.append(DestinationAddress(email, verified=False))


@dataclass
class FakeEmailSending:
    """Email Sending of one zone: a domain lists the records it needs (DKIM, bounce MX/SPF)
    and reads enabled once the zone holds them all, as Cloudflare's checks find them;
    ``verifying = False`` is Cloudflare not having checked yet."""

    zone: FakeDnsRecords
    domain_list: list[SendingDomain] = field(default_factory=list)
    verifying: bool = True
    calls: Counter[str] = field(default_factory=Counter)

    def _now(self, d: SendingDomain) -> SendingDomain:
        published = all(
            any(r.same_as(want) for r in self.zone.records) for want in self._required(d)
        )
        return replace(d, enabled=self.verifying and published)

    async def domains(self) -> list[SendingDomain]:
        self.calls["domains"] += 1
        return [self._now(d) for d in self.domain_list]

    async def get(self, tag: str) -> SendingDomain:
        self.calls["get"] += 1
        for d in self.domain_list:
            if d.tag == tag:
                return self._now(d)
        raise NotFound("Sending subdomain not found.", status=404, codes=[2030])

    async def create(self, name: str) -> SendingDomain:
        self.calls["create"] += 1
        if any(d.name == name for d in self.domain_list):
            raise Conflict(f"{name} already exists", status=409, codes=[2031])
        made = SendingDomain(
            f"tag{len(self.domain_list) + 1}",
            name,
            False,
            "cf-bounce",
            f"cf-bounce.{name}",
            datetime(2026, 1, 2, tzinfo=UTC),
        )
        self.domain_list.append(made)
        return made

    async def required_records(self, tag: str) -> list[Record]:
        self.calls["required_records"] += 1
        for d in self.domain_list:
            if d.tag == tag:
                return self._required(d)
        raise NotFound("Sending subdomain not found.", status=404, codes=[2030])

    @staticmethod
    def _required(d: SendingDomain) -> list[Record]:
        bounce = d.return_path_domain or f"cf-bounce.{d.name}"
        return [
            Record("TXT", f"{d.dkim_selector}._domainkey.{d.name}", f"v=DKIM1; k=rsa; p={d.tag}"),
            Record("MX", bounce, "route1.mx.cloudflare.net", priority=13),
            Record("TXT", bounce, "v=spf1 include:_spf.mx.cloudflare.net ~all"),
        ]


@dataclass
class FakeKv:
    namespaces: dict[str, str] = field(default_factory=dict)  # title -> id
    values: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, key) -> value
    calls: Counter[str] = field(default_factory=Counter)

    async def titles(self) -> dict[str, str]:
        self.calls["titles"] += 1
        return dict(self.namespaces)

    async def create(self, title: str) -> str:
        self.calls["create"] += 1
        if title in self.namespaces:
            raise ApiError("a namespace with this title already exists", status=400, codes=[10014])
        self.namespaces[title] = f"ns-{len(self.namespaces) + 1}"
        return self.namespaces[title]

    async def delete(self, namespace_id: str) -> None:
        self.calls["delete"] += 1
        for title, ident in list(self.namespaces.items()):
            if ident == namespace_id:
                del self.namespaces[title]
                return
        raise NotFound(f"no namespace {namespace_id}", status=404, codes=[10013])

    async def value(self, namespace_id: str, key: str) -> str | None:
        self.calls["value"] += 1
        return self.values.get((namespace_id, key))


@dataclass
class FakeScript:
    settings: WorkerSettings
    modules: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeWorkers:
    """Workers of the account and the zone's routes; Custom Domains refuse a hostname held by
    another Worker (100116) or with address records in the zone (100117)."""

    zone: FakeDnsRecords
    scripts: dict[str, FakeScript] = field(default_factory=dict)
    route_list: list[WorkerRoute] = field(default_factory=list)
    domain_list: list[WorkerDomain] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def _script(self, script: str) -> FakeScript:
        if script not in self.scripts:
            raise NotFound(f"This Worker does not exist: {script}", status=404, codes=[10007])
        return self.scripts[script]

    async def settings(self, script: str) -> WorkerSettings:
        self.calls["settings"] += 1
        return self._script(script).settings

    async def content(self, script: str, module: str) -> str:
        self.calls["content"] += 1
        return self._script(script).modules[module]

    def validate_metadata(self, metadata: Mapping[str, Any]) -> None:
        self.calls["validate_metadata"] += 1

    async def upload(
        self, script: str, metadata: Mapping[str, Any], files: Sequence[tuple[str, bytes, str]]
    ) -> None:
        self.calls["upload"] += 1
        kept = self.scripts[script].secrets if script in self.scripts else {}
        bindings = tuple(b for b in metadata.get("bindings", []) if b["type"] != "secret_text")
        secrets = {
            b["name"]: b["text"] for b in metadata.get("bindings", []) if b["type"] == "secret_text"
        }
        self.scripts[script] = FakeScript(
            WorkerSettings(metadata.get("compatibility_date"), bindings),
            {name: data.decode() for name, data, _ in files},
            {**kept, **secrets},
        )

    async def secret_names(self, script: str) -> set[str]:
        self.calls["secret_names"] += 1
        return set(self._script(script).secrets)

    async def put_secret(self, script: str, name: str, value: str) -> None:
        self.calls["put_secret"] += 1
        self._script(script).secrets[name] = value

    async def update_secrets(self, script: str, changes: Mapping[str, str | None]) -> None:
        self.calls["update_secrets"] += 1
        secrets = self._script(script).secrets
        for name, value in changes.items():
            if value is None:
                if name not in secrets:
                    raise NotFound(f"Secret {name!r} not found on this Worker.", codes=[10056])
                del secrets[name]
            else:
                secrets[name] = value

    async def routes(self) -> list[WorkerRoute]:
        self.calls["routes"] += 1
        return list(self.route_list)

    async def create_route(self, pattern: str, script: str) -> str:
        self.calls["create_route"] += 1
        if any(r.pattern == pattern for r in self.route_list):
            raise Conflict(
                f"A route with the same pattern already exists: {pattern}",
                status=409,
                codes=[10020],
            )
        ident = f"route-{len(self.route_list) + 1}"
        self.route_list.append(WorkerRoute(ident, pattern, script))
        return ident

    async def update_route(self, route_id: str, pattern: str, script: str) -> None:
        self.calls["update_route"] += 1
        if not any(r.id == route_id for r in self.route_list):
            raise NotFound("Route not found.", status=404, codes=[10019])
        self.route_list = [
            WorkerRoute(r.id, pattern, script) if r.id == route_id else r for r in self.route_list
        ]

    async def domains(self, hostname: str) -> list[WorkerDomain]:
        self.calls["domains"] += 1
        return [d for d in self.domain_list if d.hostname == hostname]

    async def attach_domain(self, hostname: str, service: str) -> None:
        self.calls["attach_domain"] += 1
        held = [d for d in self.domain_list if d.hostname == hostname and d.service != service]
        if held:
            raise Conflict(f"{hostname} is attached to another Worker", status=409, codes=[100116])
        if [r for r in self.zone.at(hostname) if r.type in ADDRESS_TYPES]:
            raise Conflict(f"records exist at {hostname}", status=409, codes=[100117])
        self.domain_list.append(WorkerDomain(hostname, service))


@dataclass
class FakeR2:
    """Buckets, their objects (ETag = MD5) and custom domains; a new custom domain starts
    pending and turns active only when ``activate`` is called (Cloudflare issues its cert)."""

    buckets: dict[str, dict[str, tuple[bytes, str]]] = field(default_factory=dict)
    domain_map: dict[str, list[R2CustomDomain]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def _bucket(self, name: str) -> dict[str, tuple[bytes, str]]:
        if name not in self.buckets:
            raise NotFound("The specified bucket does not exist.", status=404, codes=[10006])
        return self.buckets[name]

    async def bucket_exists(self, name: str) -> bool:
        self.calls["bucket_exists"] += 1
        return name in self.buckets

    async def create_bucket(self, name: str) -> None:
        self.calls["create_bucket"] += 1
        if name in self.buckets:
            raise Conflict(
                "The bucket you tried to create already exists", status=409, codes=[10004]
            )
        self.buckets[name] = {}

    async def object_etags(self, bucket: str, prefix: str) -> dict[str, str]:
        import hashlib

        self.calls["object_etags"] += 1
        return {
            key: hashlib.md5(data, usedforsecurity=False).hexdigest()
            for key, (data, _) in self._bucket(bucket).items()
            if key.startswith(prefix)
        }

    async def put_object(
        self, bucket: str, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> None:
        self.calls["put_object"] += 1
        self._bucket(bucket)[key] = (data, content_type)

    async def custom_domains(self, bucket: str) -> list[R2CustomDomain]:
        self.calls["custom_domains"] += 1
        self._bucket(bucket)
        return list(self.domain_map.get(bucket, []))

    async def custom_domain(self, bucket: str, domain: str) -> R2CustomDomain:
        self.calls["custom_domain"] += 1
        self._bucket(bucket)
        for d in self.domain_map.get(bucket, []):
            if d.domain == domain:
                return d
        raise NotFound(
            f"Custom domain {domain} is not attached to this bucket.", status=404, codes=[10057]
        )

    async def attach_custom_domain(self, bucket: str, domain: str) -> None:
        self.calls["attach_custom_domain"] += 1
        self._bucket(bucket)
        self.domain_map.setdefault(bucket, []).append(
            R2CustomDomain(domain, True, "pending", "pending")
        )

    def activate(self, bucket: str, domain: str) -> None:
        """Cloudflare has verified the domain and issued its certificate."""
        self.domain_map[bucket] = [
            replace(d, ownership="active", ssl="active") if d.domain == domain else d
            for d in self.domain_map[bucket]
        ]

    async def enable_custom_domain(self, bucket: str, domain: str) -> None:
        self.calls["enable_custom_domain"] += 1
        found = await self.custom_domain(bucket, domain)
        self.domain_map[bucket] = [
            replace(d, enabled=True) if d is found else d for d in self.domain_map[bucket]
        ]


@dataclass
class FakeDnsProber:
    """Authoritative nameservers serving exactly ``zone`` (proxied addresses answer with the
    edge's, as Cloudflare's do); no public resolvers, like the sandbox."""

    zone: FakeDnsRecords
    servers: tuple[str, ...] = ("ns1", "ns2")
    resolvers: list[tuple[str, int]] = field(default_factory=list)
    timeout: float = 1.0
    calls: Counter[str] = field(default_factory=Counter)

    async def authoritative_servers(self) -> list[tuple[str, int]]:
        return [(s, 53) for s in self.servers]

    async def ask_authoritative(self, name: str, rdtype: str) -> list[DnsAnswer]:
        self.calls["ask_authoritative"] += 1
        found = [r for r in self.zone.records if r.name.lower() == name.lower()]
        values = tuple(_served(r) for r in found if r.type == rdtype)
        rcode = "NOERROR" if found else "NXDOMAIN"
        return [DnsAnswer(s, rcode, values, authoritative=True) for s in self.servers]

    async def ask_public(self, name: str, rdtype: str) -> list[DnsAnswer]:
        self.calls["ask_public"] += 1
        return []


def _served(rec: Record) -> str:
    if rec.proxied and rec.type in ("A", "AAAA"):
        return EDGE_IPV4 if rec.type == "A" else EDGE_IPV6
    if rec.type == "MX":
        return f"{rec.priority} {rec.content.rstrip('.').lower()}"
    return unquote(rec.content) if rec.type == "TXT" else rec.content


SECRET_SLOTS = {"A": BINDING_A, "B": BINDING_B}  # the key slot the Worker names -> its secret


@dataclass
class FakeHttpProber:
    """Cloudflare's edge for the account's public hostnames, and the relay Worker behind it.

    ``mail.<domain>`` reaches a Worker through a Worker Route (only for a proxied record) or
    a Worker Custom Domain; the Worker answers as the relay does: 405 to anything but POST,
    401 to a request no secret of the Worker signed (or a replayed nonce), 200 with the key
    slot to a signed dry run, 202 to a signed send. A public R2 custom domain serves the
    bucket's objects (ETag = MD5). A hostname without an address record does not resolve
    (``Unavailable``); one with a record but nothing behind it answers 522.
    """

    zone: FakeDnsRecords
    workers: FakeWorkers
    r2: FakeR2
    calls: Counter[str] = field(default_factory=Counter)
    nonces: set[str] = field(default_factory=set)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> HttpResponse:
        self.calls[method] += 1
        parts = urlsplit(url)
        host, path = parts.netloc.lower(), parts.path or "/"
        if not [r for r in self.zone.at(host) if r.type in ADDRESS_TYPES]:
            bucket = self._bucket_at(host)
            if bucket is None:
                raise Unavailable(f"ConnectError: {host} does not resolve")
            return self._object(bucket, path, method)
        script = self._worker_at(host)
        if script is None:
            return HttpResponse(522)
        return self._relay(script, method, host, path, dict(headers or {}), content or b"")

    def _worker_at(self, host: str) -> FakeScript | None:
        proxied = any(r.proxied for r in self.zone.at(host) if r.type in ("A", "AAAA"))
        route = next((r for r in self.workers.route_list if r.pattern == f"{host}/*"), None)
        domain = next((d for d in self.workers.domain_list if d.hostname == host), None)
        name = route.script if route and proxied else domain.service if domain else None
        return self.workers.scripts.get(name) if name else None

    def _relay(
        self,
        script: FakeScript,
        method: str,
        host: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> HttpResponse:
        if method != "POST":
            return _json(405, {"error": "method_not_allowed"})
        lowered = {k.lower(): v for k, v in headers.items()}
        ts, nonce = lowered.get("x-polaris-ts", ""), lowered.get("x-polaris-nonce", "")
        try:
            canonical = canonical_string("POST", host, path, ts, nonce, body)
        except ValueError:
            return _json(401, {"error": "unauthorized"})
        slot = next(
            (
                slot
                for slot, binding in SECRET_SLOTS.items()
                if binding in script.secrets
                and verify(script.secrets[binding], canonical, lowered.get("x-polaris-sig", ""))
            ),
            None,
        )
        if slot is None or nonce in self.nonces:
            return _json(401, {"error": "unauthorized"})
        self.nonces.add(nonce)
        if json.loads(body).get("dry_run"):
            return _json(200, {"ok": True, "key": slot})
        return _json(202, {"id": str(uuid.uuid4())})

    def _bucket_at(self, host: str) -> str | None:
        return next(
            (
                bucket
                for bucket, domains in self.r2.domain_map.items()
                if any(d.domain == host and d.enabled and d.active for d in domains)
            ),
            None,
        )

    def _object(self, bucket: str, path: str, method: str) -> HttpResponse:
        found = self.r2.buckets.get(bucket, {}).get(path.lstrip("/"))
        if found is None:
            return HttpResponse(404)
        data, content_type = found
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        headers = {"content-type": content_type, "etag": f'"{etag}"'}
        return HttpResponse(200, headers, b"" if method == "HEAD" else data)


def _json(status: int, payload: Mapping[str, Any]) -> HttpResponse:
    body = json.dumps(payload).encode()
    return HttpResponse(status, {"content-type": "application/json"}, body)


CONFIG = {
    "domain": "example.com",
    "account_id": "0123456789abcdef0123456789abcdef",
    "traefik_ipv4": "192.0.2.10",
    "traefik_ipv6": "2001:db8::10",
    "dmarc_rua": "dmarc@example.com",
}


def fake_config(**overrides: Any) -> Config:
    return validate({**CONFIG, **overrides})


@dataclass
class FakeAccount:
    """One zone's worth of fakes, wired to each other as Cloudflare's services are."""

    domain: str = CONFIG["domain"]
    zone: FakeDnsRecords = field(default_factory=FakeDnsRecords)
    routing: FakeEmailRouting = field(init=False)
    sending: FakeEmailSending = field(init=False)
    workers: FakeWorkers = field(init=False)
    kv: FakeKv = field(default_factory=FakeKv)
    r2: FakeR2 = field(default_factory=FakeR2)
    dns: FakeDnsProber = field(init=False)
    http: FakeHttpProber = field(init=False)
    keyring: MemoryKeyring = field(default_factory=MemoryKeyring)

    def __post_init__(self) -> None:
        self.routing = FakeEmailRouting(self.zone, self.domain)
        self.sending = FakeEmailSending(self.zone)
        self.workers = FakeWorkers(self.zone)
        self.dns = FakeDnsProber(self.zone)
        self.http = FakeHttpProber(self.zone, self.workers, self.r2)

    @property
    def vault(self) -> Vault:
        """The real vault over this account's in-memory keyring."""
        return Vault(self.domain, self.keyring)


def fake_context(tmp_path: Path, account: FakeAccount, config: Config | None = None) -> Context:
    """A Context whose ports are ``account``'s fakes (reads shared within an observation, as
    the session root's are) and whose vault keeps its secrets in ``account.keyring``."""
    ctx = Context(
        config=config or fake_config(domain=account.domain),
        config_path=tmp_path / "config.toml",
        vault=account.vault,
        state=StateStore(tmp_path / "state.json"),
        journal=Journal(tmp_path / "journal.jsonl"),
        endpoints=Endpoints(),
    )
    wired = {
        "dns_records": account.zone,
        "email_routing": account.routing,
        "email_sending": account.sending,
        "workers": account.workers,
        "kv": account.kv,
        "r2": account.r2,
    }
    for family, port in wired.items():
        ctx.__dict__[family] = observed(family, port)  # fills the cached_property
    ctx.__dict__["dns"] = account.dns
    ctx.__dict__["http"] = account.http
    return ctx
