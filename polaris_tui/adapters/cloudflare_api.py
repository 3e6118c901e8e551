"""The official Cloudflare SDK client, pointed at Cloudflare or at the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def all_items(first: Any) -> list[Any]:
    """Every item of a page-numbered SDK list, in one request when it fits on one page.

    The SDK's own iteration asks for page n+1 until one comes back empty, so even a short
    list costs two round trips in a row; ``result_info`` already says whether more exist.
    The server may return fewer items per page than asked, so the totals decide, not the
    size of a page.
    """
    items: list[Any] = []
    page = first
    while True:
        batch = list(page.result or [])
        items += batch
        if not _more_pages(page.result_info, len(batch), len(items)) or not page.has_next_page():
            return items
        page = page.get_next_page()


def _more_pages(info: Any, count: int, seen: int) -> bool:
    """Whether a page is not the last: ``total_pages`` or ``total_count`` if given (the
    documented ``result_info`` carries only the latter), else a full page."""
    if not count:
        return False
    total = getattr(info, "total_pages", None)
    if total is not None:
        return int(getattr(info, "page", None) or 1) < int(total)
    total_count = getattr(info, "total_count", None)
    if total_count is not None:
        return seen < int(total_count)
    per_page = getattr(info, "per_page", None)
    return per_page is None or count >= int(per_page)
