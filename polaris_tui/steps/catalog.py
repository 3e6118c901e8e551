"""What the eight steps are called and why, in runbook order, without importing their code.

The CLI help and the TUI sidebar and first panel need only these words; the step modules (and
the libraries they pull in) are imported by ``registry`` when a step actually runs, so the
TUI's first frame does not wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepInfo:
    id: str
    title: str
    purpose: str  # plain words from the runbook: what and why


STEPS: tuple[StepInfo, ...] = (
    StepInfo(
        "dns",
        "DNS records",
        "Point the apex, manage. and mail. at the Traefik entry; mail. is proxied so a "
        "Worker Route can intercept it.",
    ),
    StepInfo(
        "auth",
        "SPF and DMARC",
        "Publish one SPF record that authorizes Cloudflare's outbound mail and a DMARC "
        "policy, so receivers trust mail from the domain.",
    ),
    StepInfo(
        "email-service",
        "Email Routing and Sending",
        "Enable Email Routing and Email Sending on the zone and publish the DKIM "
        "records Cloudflare asks for, then wait until DKIM is verified.",
    ),
    StepInfo(
        "assets",
        "Brand assets on R2",
        "Upload the four brand PNGs the email templates reference and serve them "
        "publicly at assets.<domain> through an R2 custom domain.",
    ),
    StepInfo(
        "kv",
        "KV nonce store",
        "Create the KV namespaces (production and preview) the relay uses to reject "
        "replayed requests.",
    ),
    StepInfo(
        "secret",
        "Signing secret",
        "Generate the HMAC secret the app signs requests with, keep it in the "
        "keyring and put it on the Worker.",
    ),
    StepInfo(
        "deploy",
        "Deploy the relay Worker",
        "Upload the signed email relay Worker with its KV, send_email and variable bindings.",
    ),
    StepInfo(
        "route",
        "Bind mail.<domain>",
        "Route mail.<domain>/* to the Worker so the app can reach POST /send.",
    ),
)

STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS)
STEP_INFO: dict[str, StepInfo] = {s.id: s for s in STEPS}
