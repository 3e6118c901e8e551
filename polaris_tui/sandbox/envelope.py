"""Cloudflare's response envelope and error type."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from starlette.responses import JSONResponse

# Set per request from the sandbox settings (POLARIS_SANDBOX_PAGE_CAP): a page shorter than
# the client asked for, as a server may choose, to prove clients page by the totals.
PAGE_CAP: ContextVar[int] = ContextVar("PAGE_CAP", default=0)


class ApiError(Exception):
    """An error answered in Cloudflare's shape: ``errors: [{code, message}]``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def envelope(result: Any, *, result_info: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def ok(
    result: Any, *, status: int = 200, result_info: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(envelope(result, result_info=result_info), status_code=status)


def error_body(code: int, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }


def fail(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def paginate(items: list[Any], query: Any, default_per_page: int = 20) -> JSONResponse:
    """Page a list the way v4 list endpoints do (``page``/``per_page`` + ``result_info``)."""
    try:
        page = max(1, int(float(query.get("page", 1))))
        per_page = max(1, min(5000, int(float(query.get("per_page", default_per_page)))))
    except ValueError:
        raise ApiError(400, 9207, "page and per_page must be numbers") from None
    total = len(items)
    cap = PAGE_CAP.get()
    if 0 < cap < per_page:
        chunk = items[(page - 1) * cap : page * cap]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": total}
        return ok(chunk, result_info=info)  # the documented fields only: no total_pages
    chunk = items[(page - 1) * per_page : page * per_page]
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": total,
        "total_pages": max(1, -(-total // per_page)),
    }
    return ok(chunk, result_info=info)
