"""The operator's config: one TOML file, validated field by field, written atomically.

Every field is described once in ``FIELDS`` (type, default, help, validator); the CLI, the
README reference and the TUI settings form all read that table, so they cannot disagree.
Writes go through tomlkit so the operator's comments and layout survive ``config set``.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui.errors import ConfigError
from polaris_tui.fsutil import atomic_write, read_text
from polaris_tui.paths import shipped_assets_dir
from polaris_tui.relay.bounds import RELAY_BOUNDS, RELAY_SWITCHES

if TYPE_CHECKING:
    import tomlkit

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$"
)
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+)$")
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_WORKER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class FieldSpec:
    """One config field: how to parse it, its default, and what it is for."""

    name: str
    kind: type
    help: str
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None  # returns the fix when the value is bad


def _hostname(v: str) -> str | None:
    return None if _HOSTNAME.match(v) else "use a lowercase DNS name such as example.com"


def _label(v: str) -> str | None:
    return None if _LABEL.match(v) else "use one lowercase DNS label such as 'mail'"


IPV4_EXAMPLE = "use the Traefik host's public IPv4 address, e.g. 203.0.113.10"
IPV6_EXAMPLE = "use the Traefik host's public IPv6 address, e.g. 2001:db8::10, or remove the field"
LAB_ONLY = (
    "; a DNS record pointing there is unreachable from the internet "
    "(set allow_private_traefik = true for a lab)"
)
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
"""RFC 1918, carrier-grade NAT and unique-local ranges: reachable only inside a network.
Documentation ranges (192.0.2.0/24, 203.0.113.0/24, 2001:db8::/32) are allowed, as the
sandbox and the examples use them; Python's ``is_private`` counts them, so it is not used."""


def _never_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes ``ip`` unusable for any A/AAAA record, lab or not."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved and not ip.is_loopback:
        return "a reserved address"
    return None


def _lab_only(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes ``ip`` reachable only from inside a network (allowed for labs)."""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version):
        return "a private address"
    return None


def _ip(version: int, example: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if "%" in v:
            return f"remove the zone id '%{v.split('%', 1)[1]}': a DNS record holds a bare address"
        try:
            ip = ipaddress.ip_address(v)
        except ValueError:
            return example
        if ip.version != version:
            return example
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            return f"use a native IPv6 address, not IPv4-mapped {v}; put {mapped} in traefik_ipv4"
        if what := _never_public(ip):
            return f"{v} is {what}; {example}"
        return None

    return check


_ipv4 = _ip(4, IPV4_EXAMPLE)
_ipv6 = _ip(6, IPV6_EXAMPLE)


def _resolvers(v: list[str]) -> str | None:
    for item in v:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            return f'{item!r} is not an IP address; list resolver addresses, e.g. ["1.1.1.1"]'
    return None


def _seconds(high: float) -> Callable[[float], str | None]:
    """A timeout: finite, above 0 and at most ``high`` s (an hour-long DNS query is a typo)."""

    def check(v: float) -> str | None:
        if math.isfinite(v) and 0 < v <= high:
            return None
        return f"use a number of seconds above 0 and at most {high:g}"

    return check


def _directory(v: str) -> str | None:
    path = Path(v).expanduser()
    if path.is_dir():
        return None
    what = "is not a folder" if path.exists() else "does not exist"
    return f"{path} {what}; create it or point the field at an existing folder"


THEMES = (
    "ansi-dark", "ansi-light", "atom-one-dark", "atom-one-light", "catppuccin-frappe",
    "catppuccin-latte", "catppuccin-macchiato", "catppuccin-mocha", "dracula", "flexoki",
    "gruvbox", "monokai", "nord", "rose-pine", "rose-pine-dawn", "rose-pine-moon",
    "solarized-dark", "solarized-light", "textual-dark", "textual-light", "tokyo-night",
)  # fmt: skip
"""Textual's built-in themes. The engine never imports Textual, so the names are listed here
and tests/test_config_bounds.py fails when they differ from the installed Textual's."""

BINDING_IDS = (
    "apply", "apply-all", "cancel", "check", "confirm-cancel", "confirm-yes", "entry-close",
    "help", "help-close",
    "history", "quit", "refresh", "rerun", "rotate", "rotate-back", "rotate-emergency",
    "rotate-graceful", "rotate-promote", "rotate-secret", "secret", "secret-close",
    "secret-copy", "secret-reveal", "settings", "settings-cancel", "settings-save", "sidebar",
    "verify-all",
)  # fmt: skip
"""Binding ids a keymap may override; the same test holds them to the TUI's bindings."""


def _keymap(v: dict[str, Any]) -> str | None:
    unknown = sorted(set(v) - set(BINDING_IDS))
    if unknown:
        return f"{', '.join(unknown)} names no binding; use one of: " + ", ".join(BINDING_IDS)
    if bad := [k for k, keys in v.items() if not isinstance(keys, str) or not keys.strip()]:
        return f'give {bad[0]} its key(s) as a string, e.g. {{ {bad[0]} = "f5" }}'
    return None


def _relay(name: str) -> FieldSpec:
    """A relay limit: default and range from the table the Worker is held to."""
    bound = RELAY_BOUNDS[name]
    return FieldSpec(
        name,
        int,
        f"{RELAY_HELP[name]}; {bound.low:,}–{bound.high:,} {bound.unit}.",
        default=bound.default,
        check=bound.fix,
    )


RELAY_HELP = {
    "ts_window_ms": "Relay: accepted clock skew of a signed request",
    "nonce_ttl_seconds": "Relay: how long a nonce stays used, at least twice the window",
    "rate_limit_max": "Relay: messages per recipient per window",
    "rate_limit_window_seconds": "Relay: rate-limit window",
}


def _account(v: str) -> str | None:
    return (
        None
        if _ACCOUNT_ID.match(v)
        else ("use the 32-character hex Account ID from the Cloudflare dashboard sidebar")
    )


def _email(v: str) -> str | None:
    return None if _EMAIL.match(v) else "use an email address such as noreply@example.com"


def _imap_host(v: str) -> str | None:
    host, sep, port = v.rpartition(":")
    if not sep:
        host, port = v, ""
    if _HOSTNAME.match(host) and (not sep or (port.isdigit() and 0 < int(port) < 65536)):
        return None
    return "use the IMAPS server's host name, e.g. imap.example.com or imap.example.com:993"


def _policy(v: str) -> str | None:
    return None if v in ("none", "quarantine", "reject") else "use none, quarantine or reject"


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in allowed else "use one of: " + ", ".join(allowed)

    return check


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "domain",
        str,
        "The domain Polaris Express runs on (the Cloudflare zone's apex).",
        required=True,
        check=_hostname,
    ),
    FieldSpec(
        "account_id",
        str,
        "Cloudflare Account ID (32 hex characters).",
        required=True,
        check=_account,
    ),
    FieldSpec("zone", str, "The Cloudflare zone name; defaults to the domain.", check=_hostname),
    FieldSpec("traefik_ipv4", str, "Public IPv4 of the Traefik entry.", required=True, check=_ipv4),
    FieldSpec("traefik_ipv6", str, "Public IPv6 of the Traefik entry (optional).", check=_ipv6),
    FieldSpec(
        "allow_private_traefik",
        bool,
        "Accept private, loopback and link-local Traefik addresses (lab setups only).",
        default=False,
    ),
    FieldSpec(
        "host_manage", str, "Host prefix of the admin surface.", default="manage", check=_label
    ),
    FieldSpec(
        "host_mail", str, "Host prefix of the email relay Worker.", default="mail", check=_label
    ),
    FieldSpec(
        "host_assets",
        str,
        "Host prefix of the brand assets origin.",
        default="assets",
        check=_label,
    ),
    FieldSpec(
        "proxied_apex", bool, "Proxy the apex through Cloudflare (default DNS-only).", default=False
    ),
    FieldSpec(
        "proxied_manage",
        bool,
        "Proxy manage.<domain> through Cloudflare (default DNS-only).",
        default=False,
    ),
    FieldSpec(
        "assets_origin",
        str,
        "'r2' (R2 custom domain) or a public hostname to CNAME assets.<domain> to.",
        default="r2",
    ),
    FieldSpec(
        "r2_bucket",
        str,
        "R2 bucket for the brand PNGs.",
        default="polaris-assets",
        check=lambda v: (
            None if _BUCKET.match(v) else "use 3-63 lowercase letters, digits and hyphens"
        ),
    ),
    FieldSpec(
        "worker_name",
        str,
        "Name of the email relay Worker script.",
        default="polaris-email-worker",
        check=lambda v: (
            None if _WORKER.match(v) else "use lowercase letters, digits, '-' and '_' (max 63)"
        ),
    ),
    FieldSpec(
        "route_mode",
        str,
        "How mail.<domain> reaches the Worker: 'route' (Worker Route "
        "on a proxied record) or 'custom_domain'.",
        default="route",
        check=_one_of("route", "custom_domain"),
    ),
    FieldSpec(
        "sender_customer",
        str,
        "Allow-listed From address of the customer brand; defaults to noreply@<domain>.",
        check=_email,
    ),
    FieldSpec(
        "sender_admin",
        str,
        "Allow-listed From address of the admin brand; defaults to admin@<domain>.",
        check=_email,
    ),
    FieldSpec(
        "spf_qualifier",
        str,
        "How SPF ends: '-all' (runbook) or '~all'.",
        default="-all",
        check=_one_of("-all", "~all"),
    ),
    FieldSpec(
        "dmarc_rua",
        str,
        "Where DMARC aggregate reports go; defaults to dmarc-reports@<domain>.",
        check=_email,
    ),
    FieldSpec(
        "dmarc_policy",
        str,
        "DMARC policy: none, quarantine or reject.",
        default="none",
        check=_policy,
    ),
    FieldSpec(
        "dmarc_mailbox",
        str,
        "Your inbox that DMARC reports are forwarded to; apply auth adds it as an Email "
        "Routing destination address (optional).",
        check=_email,
    ),
    FieldSpec(
        "assets_dir",
        str,
        "Folder with the four brand PNGs; defaults to the shipped assets.",
        check=_directory,
    ),
    FieldSpec(
        "worker_dir",
        str,
        "The app repo's cloudflare/email-worker folder, whose "
        "wrangler.jsonc the tool keeps in sync (optional).",
        check=_directory,
    ),
    FieldSpec(
        "public_resolvers",
        list,
        "Public resolvers (IP addresses) asked besides the authoritative nameservers.",
        default=["1.1.1.1", "8.8.8.8"],
        check=_resolvers,
    ),
    FieldSpec(
        "dns_timeout_seconds",
        float,
        "Per-query DNS timeout (s, at most 60).",
        default=3.0,
        check=_seconds(60),
    ),
    FieldSpec(
        "propagation_timeout_seconds",
        int,
        "How long apply waits for records to be served (s, at most 3600).",
        default=120,
        check=_seconds(3600),
    ),
    FieldSpec(
        "dkim_timeout_seconds",
        int,
        "How long apply waits for Cloudflare to verify DKIM (s, at most 86400).",
        default=600,
        check=_seconds(86400),
    ),
    FieldSpec(
        "mailbox_timeout_seconds",
        int,
        "How long apply auth waits for dmarc_mailbox to be verified (s, at most 86400).",
        default=900,
        check=_seconds(86400),
    ),
    FieldSpec(
        "promote_quiet_seconds",
        int,
        "rotate --promote waits until the old secret has signed nothing for this long (s).",
        default=600,
        check=_seconds(86400),
    ),
    FieldSpec(
        "imap_host",
        str,
        "IMAPS server (host or host:port, TLS on 993) of a mailbox that send-test and verify "
        "read test messages from, to judge their SPF/DKIM/DMARC (optional).",
        check=_imap_host,
    ),
    FieldSpec(
        "imap_user",
        str,
        "Login of that mailbox (the password is the keyring's imap-password); verify sends "
        "its test message here when it is an address.",
    ),
    FieldSpec(
        "delivery_timeout_seconds",
        int,
        "How long send-test and verify wait for the test message to arrive (s, at most 3600).",
        default=120,
        check=_seconds(3600),
    ),
    FieldSpec(
        "app_secret_command",
        str,
        "Shell command (run with sh -c) that gives the app a new signing secret, read from "
        "its stdin, after each graceful or emergency rotation (optional).",
        check=lambda v: None if v else "give a shell command, or remove the field",
    ),
    FieldSpec(
        "app_secret_timeout_seconds",
        int,
        "How long app_secret_command may run before it is stopped (s, at most 3600).",
        default=60,
        check=_seconds(3600),
    ),
    *(_relay(name) for name in RELAY_HELP),
    FieldSpec(
        "relay_strict",
        bool,
        "Relay: nonces and rate counters in a Durable Object, exact under concurrency "
        "(false: KV, best effort).",
        default=RELAY_SWITCHES["relay_strict"],
    ),
    FieldSpec(
        "theme",
        str,
        "Textual theme of the TUI, e.g. nord or textual-light.",
        default="textual-dark",
        check=_one_of(*THEMES),
    ),
    FieldSpec(
        "keymap",
        dict,
        'TUI key overrides: binding id -> key(s), e.g. { rotate = "ctrl+r" }.',
        default={},
        check=_keymap,
    ),
)
FIELD_BY_NAME: Mapping[str, FieldSpec] = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Config:
    """A validated config; derived defaults (zone, senders, rua) are filled in."""

    domain: str
    account_id: str
    traefik_ipv4: str
    zone: str = ""
    traefik_ipv6: str | None = None
    allow_private_traefik: bool = False
    host_manage: str = "manage"
    host_mail: str = "mail"
    host_assets: str = "assets"
    proxied_apex: bool = False
    proxied_manage: bool = False
    assets_origin: str = "r2"
    r2_bucket: str = "polaris-assets"
    worker_name: str = "polaris-email-worker"
    route_mode: str = "route"
    sender_customer: str = ""
    sender_admin: str = ""
    spf_qualifier: str = "-all"
    dmarc_rua: str = ""
    dmarc_policy: str = "none"
    dmarc_mailbox: str | None = None
    assets_dir: Path = field(default_factory=shipped_assets_dir)
    worker_dir: Path | None = None
    public_resolvers: tuple[str, ...] = ("1.1.1.1", "8.8.8.8")
    dns_timeout_seconds: float = 3.0
    propagation_timeout_seconds: int = 120
    dkim_timeout_seconds: int = 600
    mailbox_timeout_seconds: int = 900
    promote_quiet_seconds: int = 600
    imap_host: str = ""
    imap_user: str = ""
    delivery_timeout_seconds: int = 120
    app_secret_command: str | None = None
    app_secret_timeout_seconds: int = 60
    ts_window_ms: int = RELAY_BOUNDS["ts_window_ms"].default
    nonce_ttl_seconds: int = RELAY_BOUNDS["nonce_ttl_seconds"].default
    rate_limit_max: int = RELAY_BOUNDS["rate_limit_max"].default
    rate_limit_window_seconds: int = RELAY_BOUNDS["rate_limit_window_seconds"].default
    relay_strict: bool = RELAY_SWITCHES["relay_strict"]
    theme: str = "textual-dark"
    keymap: Mapping[str, str] = field(default_factory=dict)

    def host(self, prefix: str) -> str:
        """``prefix.<domain>``, or the apex for an empty prefix."""
        return f"{prefix}.{self.domain}" if prefix else self.domain

    @property
    def mail_host(self) -> str:
        return self.host(self.host_mail)

    @property
    def assets_host(self) -> str:
        return self.host(self.host_assets)

    @property
    def manage_host(self) -> str:
        return self.host(self.host_manage)

    @property
    def senders(self) -> tuple[str, str]:
        return (self.sender_customer, self.sender_admin)


def _coerce(spec: FieldSpec, value: Any) -> Any:
    """Turn a TOML or command-line value into the field's type, or raise ConfigError."""
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(spec.name, value, "use true or false")
    if spec.kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(spec.name, value, "use a whole number")
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(spec.name, value, "use a whole number") from None
    if spec.kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(spec.name, value, "use a number such as 3 or 2.5") from None
    if spec.kind is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(spec.name, value, 'use a list of strings, e.g. ["1.1.1.1"]')
        return value
    if spec.kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(spec.name, value, 'use a TOML table, e.g. { rotate = "ctrl+r" }')
        return dict(value)
    if not isinstance(value, str):
        raise ConfigError(spec.name, value, "use a quoted string")
    return value.strip()


def _check_traefik_scope(values: Mapping[str, Any]) -> None:
    """Private, loopback and link-local Traefik addresses only with allow_private_traefik."""
    if values.get("allow_private_traefik", False):
        return
    for name in ("traefik_ipv4", "traefik_ipv6"):
        if name in values and (what := _lab_only(ipaddress.ip_address(values[name]))):
            example = IPV4_EXAMPLE if name == "traefik_ipv4" else IPV6_EXAMPLE
            raise ConfigError(name, values[name], f"{values[name]} is {what}{LAB_ONLY}; {example}")


def _check_hosts_differ(values: Mapping[str, Any]) -> None:
    """Each host prefix names its own record: the admin surface, the relay and the assets."""
    seen: dict[str, str] = {}
    for name in ("host_manage", "host_mail", "host_assets"):
        prefix = values.get(name, FIELD_BY_NAME[name].default)
        if prefix in seen:
            raise ConfigError(
                name, prefix, f"use a prefix different from {seen[prefix]} ({prefix!r})"
            )
        seen[prefix] = name


def validate(raw: Mapping[str, Any]) -> Config:
    """Build a Config from raw TOML values; the first problem raises a ConfigError."""
    unknown = sorted(set(raw) - set(FIELD_BY_NAME))
    if unknown:
        raise ConfigError(
            unknown[0], raw[unknown[0]], "remove it; known fields are " + ", ".join(FIELD_BY_NAME)
        )
    values: dict[str, Any] = {}
    missing: FieldSpec | None = None  # a bad value is named before a field still to be set
    for spec in FIELDS:
        if spec.name not in raw or raw[spec.name] in ("", None):
            if spec.required and missing is None:
                missing = spec
            continue
        value = _coerce(spec, raw[spec.name])
        if spec.check is not None:
            fix = spec.check(value)
            if fix:
                raise ConfigError(spec.name, value, fix)
        values[spec.name] = value
    _check_traefik_scope(values)
    if missing is not None:
        raise ConfigError(missing.name, None, f"set it: {missing.help}")
    _check_hosts_differ(values)
    domain = values["domain"]
    values.setdefault("zone", domain)
    values.setdefault("sender_customer", f"noreply@{domain}")
    values.setdefault("sender_admin", f"admin@{domain}")
    values.setdefault("dmarc_rua", f"dmarc-reports@{domain}")
    for name in ("sender_customer", "sender_admin"):
        if values[name].rsplit("@", 1)[1].lower() != domain:
            raise ConfigError(
                name,
                values[name],
                f"use an address at {domain}, e.g. {values[name].split('@')[0]}@{domain}",
            )
    mailbox = values.get("dmarc_mailbox")
    if mailbox and mailbox.lower() == values["dmarc_rua"].lower():
        raise ConfigError(
            "dmarc_mailbox",
            mailbox,
            "use the inbox you read, not dmarc_rua itself (reports forwarded to the address "
            "they arrive at never reach anyone)",
        )
    if values["sender_customer"].lower() == values["sender_admin"].lower():
        raise ConfigError(
            "sender_admin", values["sender_admin"], "use an address different from sender_customer"
        )
    if domain != values["zone"] and not domain.endswith("." + values["zone"]):
        raise ConfigError("zone", values["zone"], f"use {domain} or a parent zone of it")
    window_s = values.get("ts_window_ms", RELAY_BOUNDS["ts_window_ms"].default) / 1000
    nonce_ttl = values.get("nonce_ttl_seconds", RELAY_BOUNDS["nonce_ttl_seconds"].default)
    if nonce_ttl < 2 * window_s:
        raise ConfigError(
            "nonce_ttl_seconds",
            nonce_ttl,
            f"use at least {int(2 * window_s)} (twice ts_window_ms in seconds), "
            "or a replayed request could be accepted",
        )
    if values.get("imap_host") and not values.get("imap_user"):
        raise ConfigError(
            "imap_user",
            None,
            "set it to the mailbox's login (imap_host is set), or remove imap_host",
        )
    if values.get("assets_origin", "r2") != "r2":
        fix = _hostname(values["assets_origin"])
        if fix:
            raise ConfigError("assets_origin", values["assets_origin"], "use 'r2' or " + fix[4:])
        if values["assets_origin"].endswith(".r2.cloudflarestorage.com"):
            raise ConfigError(
                "assets_origin",
                values["assets_origin"],
                "that host is R2's private S3 API and serves nothing publicly; "
                "use 'r2' to attach assets.<domain> as an R2 custom domain",
            )
    for path_field in ("assets_dir", "worker_dir"):
        if path_field in values:
            values[path_field] = Path(values[path_field]).expanduser()
    if "public_resolvers" in values:
        values["public_resolvers"] = tuple(values["public_resolvers"])
    names = {f.name for f in fields(Config)}
    return Config(**{k: v for k, v in values.items() if k in names})


NOT_UTF8_FIX = "save it as UTF-8 (TOML files are UTF-8 text) and retry"


def read_document(path: Path) -> tomlkit.TOMLDocument:
    """The config file as a comment-preserving document (empty when it does not exist)."""
    import tomlkit

    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(read_text(path, NOT_UTF8_FIX))
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError("(file)", str(path), f"fix the TOML syntax: {exc}") from None


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    if not path.exists():
        raise ConfigError(
            "(file)",
            str(path),
            "create it with `polaris-tui config set domain "
            "example.com` (and account_id, traefik_ipv4), or open the TUI",
        )
    # Reading needs no comment-preserving document: the stdlib parser keeps start-up quick.
    try:
        return validate(tomllib.loads(read_text(path, NOT_UTF8_FIX)))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(file)", str(path), f"fix the TOML syntax: {exc}") from None


def set_value(path: Path, key: str, value: Any) -> Config | None:
    """Set one field, keeping comments; validates the single value, writes atomically.

    Returns the full Config when the file is now complete, else None (more fields needed).
    """
    spec = FIELD_BY_NAME.get(key)
    if spec is None:
        raise ConfigError(key, value, "use one of: " + ", ".join(FIELD_BY_NAME))
    if isinstance(value, str) and spec.kind is dict:
        import tomlkit

        try:
            value = tomlkit.parse(f"v = {value}")["v"].unwrap()
        except tomlkit.exceptions.ParseError:
            raise ConfigError(
                key, value, 'use a TOML inline table, e.g. { rotate = "ctrl+r" }'
            ) from None
    coerced = _coerce(spec, value)
    if spec.check is not None and (fix := spec.check(coerced)):
        raise ConfigError(key, coerced, fix)
    doc = read_document(path)
    doc[key] = coerced
    try:
        config: Config | None = validate(doc.unwrap())
    except ConfigError as exc:
        if exc.value is not None:  # a real conflict, not just a required field still unset
            raise
        config = None
    atomic_write(path, doc.as_string().encode("utf-8"), mode=0o644)
    return config


def update_values(path: Path, values: Mapping[str, Any]) -> Config:
    """Set several fields at once (the settings form), validating the whole result first."""
    doc = read_document(path)
    for key, value in values.items():
        if value in ("", None):
            if key in doc:
                del doc[key]
            continue
        spec = FIELD_BY_NAME.get(key)
        if spec is None:
            raise ConfigError(key, value, "use one of: " + ", ".join(FIELD_BY_NAME))
        doc[key] = _coerce(spec, value)
    config = validate(doc.unwrap())
    atomic_write(path, doc.as_string().encode("utf-8"), mode=0o644)
    return config


def describe(config: Config) -> dict[str, Any]:
    """The effective config as plain JSON-able values (for `config show`)."""
    out: dict[str, Any] = {}
    for f in fields(Config):
        v = getattr(config, f.name)
        out[f.name] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
    return out
