"""Email Sending's way out, as Cloudflare describes it: a Worker's ``send_email`` message is
DKIM-signed for the sending domain with the key whose public half the zone publishes, gets a
bounce address on the subdomain's return-path domain (``cf-bounce.<domain>``) as its envelope
sender, and leaves from the egress address ``_spf.mx.cloudflare.net`` authorises.

Mail from a domain without Email Sending (Email Routing to a verified address) leaves
unsigned with its own sender as the envelope sender: what Cloudflare does then is not
documented (docs/cloudflare-behaviour.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim

from polaris_tui.sandbox import EGRESS_IPV4, dkim_keys
from polaris_tui.sandbox.state import Store

EGRESS_HELO = "egress.mx.cloudflare.net"
BOUNCE_LOCAL_PART = "bounces"


@dataclass(frozen=True)
class Egress:
    """One message as it leaves: the SMTP client's address and HELO, envelope and bytes."""

    client_ip: str
    helo: str
    mail_from: str
    data: bytes


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip("<>").lower()


def prepare(store: Store, mail_from: str, data: bytes) -> Egress:
    domain = _domain(mail_from)
    with store.read() as state:
        sub = next((s for s in state["sending_subdomains"].values() if s["name"] == domain), None)
    if sub is None:
        return Egress(EGRESS_IPV4, EGRESS_HELO, mail_from, data)
    bounce = f"{BOUNCE_LOCAL_PART}@{sub['return_path_domain']}"
    key = dkim_keys.private_key(store.keyring, sub["tag"])
    if key is None:  # a subdomain made before the sandbox signed: its key has no private half
        return Egress(EGRESS_IPV4, EGRESS_HELO, bounce, data)
    signature = dkim.sign(
        data,
        sub["dkim_selector"].encode(),
        domain.encode(),
        key,
        canonicalize=(b"relaxed", b"relaxed"),
    )
    return Egress(EGRESS_IPV4, EGRESS_HELO, bounce, signature + data)
