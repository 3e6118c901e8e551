"""The Cloudflare adapter turns SDK exceptions into the port errors, keeping the codes."""

from __future__ import annotations

import cloudflare
import httpx
import pytest

from polaris_tui import troubleshooting
from polaris_tui.adapters.cloudflare_api import port_error, translated
from polaris_tui.errors import (
    ApiError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
)
from polaris_tui.steps.catalog import STEP_INFO

REQUEST = httpx.Request("GET", "https://api.cloudflare.com/client/v4/x")


def sdk_error(status: int, code: int, headers: dict[str, str] | None = None) -> Exception:
    response = httpx.Response(status, request=REQUEST, headers=headers)
    body = {"success": False, "errors": [{"code": code, "message": f"error {code}"}]}
    client = cloudflare.Cloudflare(api_token="t", base_url="http://127.0.0.1:9")
    return client._make_status_error(f"error {code}", body=body, response=response)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ApiError),
        (401, PermissionDenied),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (429, RateLimited),
        (503, Unavailable),
    ],
)
def test_statuses_map_to_port_errors_with_codes(status: int, kind: type[ApiError]) -> None:
    mapped = port_error(sdk_error(status, 10014))
    assert type(mapped) is kind
    assert mapped is not None and mapped.status == status and mapped.codes == (10014,)


def test_rate_limit_keeps_retry_after() -> None:
    mapped = port_error(sdk_error(429, 10000, {"retry-after": "7"}))
    assert isinstance(mapped, RateLimited) and mapped.retry_after == 7.0


def test_no_answer_is_unavailable_and_the_sdk_error_is_chained() -> None:
    with pytest.raises(Unavailable) as caught, translated():
        raise cloudflare.APIConnectionError(request=REQUEST)
    assert isinstance(caught.value.__cause__, cloudflare.APIConnectionError)


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), translated():
        raise KeyError("not the SDK's")


def test_troubleshooting_matches_port_errors_by_code_and_by_class() -> None:
    by_code = troubleshooting.lookup("kv", exc=port_error(sdk_error(400, 10014)))
    assert by_code is not None and by_code.id == "kv-title-exists"
    dns_permission = {"permission": STEP_INFO["dns"].permission}  # as runner.guidance_values
    denied = troubleshooting.lookup(
        "dns", values=dns_permission, exc=PermissionDenied("no", status=403)
    )
    assert denied is not None and denied.id == "token-permission"
    assert "Zone · DNS · Edit" in denied.fix
    down = troubleshooting.lookup("kv", exc=Unavailable("no answer"))
    assert down is not None and down.id == "cloudflare-unavailable"
