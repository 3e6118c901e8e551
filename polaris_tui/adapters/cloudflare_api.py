"""The official Cloudflare SDK client, pointed at Cloudflare or at the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import cloudflare


def make_client(
    token: str, base_url: str | None = None, *, timeout: float = 30.0, max_retries: int = 3
) -> cloudflare.Cloudflare:
    """A client with the SDK's own retries (408/409/429/5xx with backoff, Retry-After).

    Three retries ride out a short burst of errors on one endpoint (two 5xx then a 429).
    """
    import cloudflare

    kwargs: dict[str, object] = {"api_token": token, "timeout": timeout, "max_retries": max_retries}
    if base_url:
        kwargs["base_url"] = base_url
    return cloudflare.Cloudflare(**kwargs)  # type: ignore[arg-type]
