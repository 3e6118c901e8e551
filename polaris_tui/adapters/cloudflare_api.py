"""The official Cloudflare SDK client, pointed at Cloudflare or at the sandbox, the one place
its exceptions become the port errors (with Cloudflare's error codes kept), and ``in_thread``,
which makes a blocking adapter method the coroutine its port declares."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from polaris_tui import waiting
from polaris_tui.errors import (
    ApiError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
)

if TYPE_CHECKING:
    import cloudflare

P = ParamSpec("P")
R = TypeVar("R")


def in_thread(method: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """The blocking ``method`` (an SDK or boto3 call) as a coroutine run by ``asyncio.to_thread``.

    The SDKs are synchronous; the ports are async so that steps overlap their reads without
    threads of their own. The call runs on the loop's default executor, in a copy of the
    caller's context (so retries still report to the current apply, ``polaris_tui.waiting``).
    """

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, *args, **kwargs)

    return run


def make_client(
    token: str, base_url: str | None = None, *, timeout: float = 30.0, max_retries: int = 3
) -> cloudflare.Cloudflare:
    """A client with the SDK's own retries (408/409/429/5xx with backoff, Retry-After).

    Three retries ride out a short burst of errors on one endpoint (two 5xx then a 429).
    Each retry is reported with its cause (``_reporting_client``). Its HTTP client is the
    SDK's, with the process's one TLS context rather than one more of its own.
    """
    import cloudflare

    from polaris_tui.adapters.http_probe import tls_context

    kwargs: dict[str, object] = {
        "api_token": token,
        "timeout": timeout,
        "max_retries": max_retries,
        "http_client": cloudflare.DefaultHttpxClient(timeout=timeout, verify=tls_context()),
    }
    if base_url:
        kwargs["base_url"] = base_url
    return _reporting_client()(**kwargs)


@cache
def _reporting_client() -> type[cloudflare.Cloudflare]:
    """The SDK's client, its wait before a retry said and sliced (``polaris_tui.waiting``).

    Without this a retry is invisible: the apply shows its last message while Cloudflare
    answers 500, and a cancel waits out the whole backoff. The SDK's retry loop calls
    ``_sleep_for_retry`` between attempts, outside its error handling, so a cancel raised
    from the report leaves the call at once. Built on first use: the SDK loads lazily.
    """
    import cloudflare

    sdk_log = logging.getLogger("cloudflare._base_client")

    class ReportingCloudflare(cloudflare.Cloudflare):
        def _sleep_for_retry(  # type: ignore[override]
            self, *, retries_taken: int, max_retries: int, options: Any, response: Any
        ) -> None:
            delay = self._calculate_retry_timeout(
                max_retries - retries_taken, options, response.headers if response else None
            )
            cause = (
                f"Cloudflare answered {response.status_code}"
                if response is not None
                else "no answer from Cloudflare"
            )
            attempt = f"attempt {retries_taken + 2} of {max_retries + 1}"
            # the SDK's own line, so the debug log (debug_log.py) still records each retry
            sdk_log.info("Retrying request to %s in %f seconds", options.url, delay)
            waiting.pause(delay, lambda left: f"{cause}, {attempt} in {waiting.seconds(left)}")

    return ReportingCloudflare


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


def _codes(exc: BaseException) -> list[int]:
    """Cloudflare error codes of an SDK exception (``errors[i].code`` or the body's),
    including each error's ``error_chain`` (6003 carries the 6111 that says why)."""
    codes: list[int] = []
    body = getattr(exc, "body", None)
    errors = body.get("errors") if isinstance(body, dict) else None
    for err in errors or getattr(exc, "errors", None) or []:
        chain = err.get("error_chain") if isinstance(err, dict) else None
        for link in [err, *(chain if isinstance(chain, list) else [])]:
            code = link.get("code") if isinstance(link, dict) else getattr(link, "code", None)
            if isinstance(code, int) and code not in codes:
                codes.append(code)
    return codes


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def port_error(exc: BaseException) -> ApiError | None:
    """The port error for an SDK exception, or None when ``exc`` is not the SDK's."""
    import cloudflare

    if isinstance(exc, cloudflare.APIConnectionError):  # timeouts included
        return Unavailable(f"no answer from the Cloudflare API: {type(exc).__name__}: {exc}")
    if not isinstance(exc, cloudflare.APIStatusError):
        return None
    status, codes = exc.status_code, _codes(exc)
    message = str(exc)
    if status in (401, 403):
        return PermissionDenied(message, status=status, codes=codes)
    if status == 404:
        return NotFound(message, status=status, codes=codes)
    if status == 409:
        return Conflict(message, status=status, codes=codes)
    if status == 429:
        return RateLimited(message, status=status, codes=codes, retry_after=_retry_after(exc))
    if status >= 500:
        return Unavailable(message, status=status, codes=codes)
    return ApiError(message, status=status, codes=codes)


@contextmanager
def translated() -> Iterator[None]:
    """Run SDK calls; their exceptions leave as port errors (the SDK's own chained)."""
    try:
        yield
    except Exception as exc:
        mapped = port_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


@dataclass
class CloudflareApi:
    """One SDK client and the ids every Cloudflare adapter needs.

    ``zone_id`` is a callable because the zone is looked up (once) only when a zone-scoped
    call is made, and the lookup is cached by the caller's state.
    """

    client_factory: Callable[[], cloudflare.Cloudflare]
    account_id: str
    zone_id_of: Callable[[], str]

    @cached_property
    def client(self) -> cloudflare.Cloudflare:
        return self.client_factory()

    @property
    def zone_id(self) -> str:
        return self.zone_id_of()

    def find_zone_id(self, name: str) -> str:
        """The id of the zone called ``name``; NotFound (with the fix) when there is none."""
        with translated():
            zones = all_items(self.client.zones.list(name=name))
        if not zones:
            raise NotFound(
                f"Zone {name} not found in the account: add the zone in the Cloudflare "
                "dashboard, or fix 'zone' in the config"
            )
        return str(zones[0].id)


def dump(obj: Any) -> dict[str, Any]:
    """An SDK model (or a plain mapping) as a dict."""
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
