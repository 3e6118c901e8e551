"""The few names Cloudflare publishes in its own zone that mail to and from the sandbox
account depends on, served by the sandbox DNS beside the account's zone:

- ``_spf.mx.cloudflare.net``: the SPF record every Email Routing/Sending SPF includes; here it
  authorises the sandbox's egress address (``EGRESS_IPV4``) and nothing else;
- ``<selector>.dkim.cloudflare.net``: the DKIM key the older CNAME form points at
  (``POLARIS_SANDBOX_DKIM_MODE=cname``), one per sending subdomain's selector.
"""

from __future__ import annotations

from typing import Any

from polaris_tui.sandbox import EGRESS_IPV4

ZONE = "cloudflare.net"
SPF_NAME = "_spf.mx.cloudflare.net"
SPF_RECORD = f"v=spf1 ip4:{EGRESS_IPV4} ~all"
DKIM_SUFFIX = "dkim.cloudflare.net"


def records(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The provider's records, shaped like zone records for the resolver."""
    out = [{"name": SPF_NAME, "type": "TXT", "content": SPF_RECORD, "ttl": 1}]
    for sub in state["sending_subdomains"].values():
        out.append(
            {
                "name": f"{sub['dkim_selector']}.{DKIM_SUFFIX}",
                "type": "TXT",
                "content": f"v=DKIM1; h=sha256; k=rsa; p={sub['dkim_key']}",
                "ttl": 1,
            }
        )
    return out
