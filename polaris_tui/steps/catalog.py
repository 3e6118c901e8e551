"""The one list of steps, in runbook order: each step's module and class, title, purpose and
the API token permission its calls need, without importing their code.

The CLI help and the TUI sidebar and first panel need only these words; the step modules (and
the libraries they pull in) are imported by ``registry`` from the names here when a step
actually runs, so the TUI's first frame does not wait for them. The troubleshooting catalog
names the permission from here when Cloudflare answers 403. Adding a step means adding its
entry here, its module, its troubleshooting entries and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepInfo:
    id: str
    title: str
    purpose: str  # plain words from the runbook: what and why
    permission: str  # the API token permission(s) its calls need, as the dashboard names them
    module: str  # under polaris_tui.steps
    class_name: str


STEPS: tuple[StepInfo, ...] = (
    StepInfo(
        "dns",
        "DNS records",
        "Point the apex, manage. and mail. at the Traefik entry; mail. is proxied so a "
        "Worker Route can intercept it.",
        "Zone · DNS · Edit",
        "dns",
        "DnsStep",
    ),
    StepInfo(
        "auth",
        "SPF and DMARC",
        "Publish one SPF record that authorizes Cloudflare's outbound mail and a DMARC "
        "policy, so receivers trust mail from the domain.",
        "Zone · DNS · Edit and Zone · Email Routing Rules · Edit",
        "auth",
        "AuthStep",
    ),
    StepInfo(
        "email-service",
        "Email Routing and Sending",
        "Enable Email Routing and Email Sending on the zone and publish the DKIM "
        "records Cloudflare asks for, then wait until DKIM is verified.",
        (
            "Zone · Zone Settings · Edit (Email Routing), Zone · Email Sending · Edit and "
            "Zone · DNS · Edit (the records Email Sending asks for)"
        ),
        "email_service",
        "EmailServiceStep",
    ),
    StepInfo(
        "assets",
        "Brand assets on R2",
        "Upload the four brand PNGs the email templates reference and serve them "
        "publicly at assets.<domain> through an R2 custom domain.",
        "Account · Workers R2 Storage · Edit",
        "assets",
        "AssetsStep",
    ),
    StepInfo(
        "kv",
        "KV nonce store",
        "Create the KV namespaces (production and preview) the relay uses to reject "
        "replayed requests.",
        "Account · Workers KV Storage · Edit",
        "kv",
        "KvStep",
    ),
    StepInfo(
        "secret",
        "Signing secret",
        "Generate the HMAC secret the app signs requests with, keep it in the "
        "keyring and put it on the Worker.",
        "Account · Workers Scripts · Edit",
        "secret",
        "SecretStep",
    ),
    StepInfo(
        "deploy",
        "Deploy the relay Worker",
        "Upload the signed email relay Worker with its KV, send_email and variable bindings.",
        "Account · Workers Scripts · Edit",
        "deploy",
        "DeployStep",
    ),
    StepInfo(
        "route",
        "Bind mail.<domain>",
        "Route mail.<domain>/* to the Worker so the app can reach POST /send.",
        "Zone · Workers Routes · Edit and Zone · DNS · Edit (the proxied mail record)",
        "route",
        "RouteStep",
    ),
)

STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS)
STEP_INFO: dict[str, StepInfo] = {s.id: s for s in STEPS}
