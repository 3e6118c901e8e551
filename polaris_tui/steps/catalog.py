"""The one list of steps, in runbook order: each step's module and class, title, purpose,
the API token permission its calls need and the steps it must come after, without importing
their code.

The CLI help and the TUI sidebar and first panel need only these words; the step modules (and
the libraries they pull in) are imported by ``registry`` from the names here when a step
actually runs, so the TUI's first frame does not wait for them. The troubleshooting catalog
names the permission from here when Cloudflare answers 403. Adding a step means adding its
entry here, its module, its troubleshooting entries and its tests.

``after`` is what ``apply all`` schedules from: a step starts once every step it comes after
has succeeded, and steps with no path between them run at the same time. Each edge says why.
Two kinds of reason make an edge: the step needs what the other one makes (the Worker needs
the KV namespace), or the other step observes records this one writes. The second kind keeps
a step that writes to the DNS zone away from every step that observes those records: applying
re-observes the step and refuses a plan whose fingerprint moved (``runner.PlanChanged``), so a
concurrent write there would fail that step for no reason of its own. Steps that do run side
by side write records no other running step observes (route the mail. record, assets the
assets. CNAME, email-service Email Sending's records and, through Cloudflare, the apex MX and
SPF that only dns and auth observe, both done by then); kv and secret write no records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class After:
    """An edge of the apply graph: come after ``step``, because of ``why``."""

    step: str
    why: str


@dataclass(frozen=True)
class StepInfo:
    id: str
    title: str
    purpose: str  # plain words from the runbook: what and why
    permission: str  # the API token permission(s) its calls need, as the dashboard names them
    module: str  # under polaris_tui.steps
    class_name: str
    after: tuple[After, ...] = ()


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
        (
            After(
                "dns",
                "dns observes every record at the apex, where auth publishes the SPF record",
            ),
        ),
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
        (
            After(
                "dns",
                "dns observes every record at the apex, where enabling Email Routing makes "
                "Cloudflare add its MX and SPF records",
            ),
            After(
                "auth",
                "auth observes the apex SPF records and Cloudflare adds one when Email Routing "
                "is enabled: auth publishes its own first, and the runner's convergence pass "
                "merges Cloudflare's into it, so the one SPF record left is the tool's",
            ),
        ),
    ),
    StepInfo(
        "assets",
        "Brand assets on R2",
        "Upload the four brand PNGs the email templates reference and serve them "
        "publicly at assets.<domain> through an R2 custom domain.",
        "Account · Workers R2 Storage · Edit",
        "assets",
        "AssetsStep",
        (
            After(
                "dns",
                "dns observes the CNAME at assets., which assets removes (a private R2 CNAME) "
                "and the R2 custom domain takes",
            ),
        ),
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
        (
            After("kv", "the Worker's KV binding names the namespace id kv records"),
            After(
                "secret",
                "the first upload carries the signing secret from the keyring, and secret "
                "observes the Worker's secret names, which the upload sets",
            ),
        ),
    ),
    StepInfo(
        "route",
        "Bind mail.<domain>",
        "Route mail.<domain>/* to the Worker so the app can reach POST /send.",
        "Zone · Workers Routes · Edit and Zone · DNS · Edit (the proxied mail record)",
        "route",
        "RouteStep",
        (
            After("deploy", "a route or custom domain binds an existing Worker"),
            After("dns", "route observes and proxies the mail. record, which dns writes"),
        ),
    ),
)

STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS)
STEP_INFO: dict[str, StepInfo] = {s.id: s for s in STEPS}


def dependencies(chosen: list[str] | tuple[str, ...] = STEP_IDS) -> dict[str, tuple[str, ...]]:
    """Each chosen step's ``after`` steps among those chosen: a step applied on its own does
    not wait for one that is not part of the run."""
    wanted = set(chosen)
    return {i: tuple(a.step for a in STEP_INFO[i].after if a.step in wanted) for i in chosen}


def topological(graph: dict[str, tuple[str, ...]]) -> list[str]:
    """The steps of ``graph`` so each comes after its dependencies, ties in the graph's own
    order (runbook order); ValueError for a dependency on an unknown step or a cycle."""
    for step, needs in graph.items():
        unknown = [n for n in needs if n not in graph]
        if unknown:
            raise ValueError(f"{step} comes after {', '.join(unknown)}, which is not a step")
    order: list[str] = []
    left = dict(graph)
    while left:
        ready = [s for s, needs in left.items() if all(n in order for n in needs)]
        if not ready:
            raise ValueError(f"the apply graph has a cycle among {', '.join(left)}")
        order.append(ready[0])
        del left[ready[0]]
    return order
