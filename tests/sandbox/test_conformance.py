"""Every response the product reads is what Cloudflare would send: each JSON answer of a
full run (apply everything, verify, rotate) is validated against the vendored OpenAPI
subset where it documents the operation, and parsed by the SDK's own response model with
no field the model does not know (the SDK itself never validates what it receives)."""

from __future__ import annotations

import json
import re
from typing import Any

import cloudflare
import httpx
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from polaris_tui import demo, rotation, runner
from polaris_tui.blocking import run_blocking
from polaris_tui.sandbox.schema import _spec, validate_response

ID = r"[^/]+"
# (method, path pattern under /client/v4) -> the SDK model of one ``result`` item
MODELS: dict[tuple[str, str], str] = {
    ("GET", "/accounts/{a}/email/routing/addresses"): "email_routing:Address",
    ("POST", "/accounts/{a}/email/routing/addresses"): "email_routing:Address",
    ("GET", "/accounts/{a}/r2/buckets"): "r2:BucketListResponse",
    ("POST", "/accounts/{a}/r2/buckets"): "r2:Bucket",
    ("GET", "/accounts/{a}/r2/buckets/{b}/domains/custom"): "r2.buckets.domains:CustomListResponse",
    ("POST", "/accounts/{a}/r2/buckets/{b}/domains/custom"): (
        "r2.buckets.domains:CustomCreateResponse"
    ),
    ("GET", "/accounts/{a}/r2/buckets/{b}/domains/custom/{d}"): (
        "r2.buckets.domains:CustomGetResponse"
    ),
    ("GET", "/accounts/{a}/storage/kv/namespaces"): "kv:Namespace",
    ("POST", "/accounts/{a}/storage/kv/namespaces"): "kv:Namespace",
    ("GET", "/accounts/{a}/workers/scripts/{s}/secrets"): "workers.scripts:SecretListResponse",
    ("PATCH", "/accounts/{a}/workers/scripts/{s}/secrets-bulk"): (
        "workers.scripts:SecretBulkUpdateResponse"
    ),
    ("PUT", "/accounts/{a}/workers/scripts/{s}/secrets"): "workers.scripts:SecretUpdateResponse",
    ("GET", "/accounts/{a}/workers/scripts/{s}/settings"): (
        "workers.scripts:ScriptAndVersionSettingGetResponse"
    ),
    ("PUT", "/accounts/{a}/workers/scripts/{s}"): "workers:ScriptUpdateResponse",
    ("GET", "/zones"): "zones:Zone",
    ("GET", "/zones/{z}/dns_records"): "dns:RecordResponse",
    ("POST", "/zones/{z}/dns_records/batch"): "dns:RecordBatchResponse",
    ("GET", "/zones/{z}/email/routing"): "email_routing:Settings",
    ("POST", "/zones/{z}/email/routing/dns"): "email_routing:Settings",
    ("GET", "/zones/{z}/email/routing/rules"): "email_routing:EmailRoutingRule",
    ("POST", "/zones/{z}/email/routing/rules"): "email_routing:EmailRoutingRule",
    ("GET", "/zones/{z}/email/sending/subdomains"): "email_sending:SubdomainListResponse",
    ("POST", "/zones/{z}/email/sending/subdomains"): "email_sending:SubdomainCreateResponse",
    ("GET", "/zones/{z}/email/sending/subdomains/{t}"): "email_sending:SubdomainGetResponse",
    ("GET", "/zones/{z}/email/sending/subdomains/{t}/dns"): "email_routing:DNSRecord",
    ("GET", "/zones/{z}/workers/routes"): "workers:RouteListResponse",
    ("POST", "/zones/{z}/workers/routes"): "workers:RouteCreateResponse",
}


# Where the 2024 OpenAPI document and the current API (SDK 5.9's models) disagree, the
# current API wins; each exception says what moved. (method, template, error path prefix)
SPEC_DRIFT: dict[tuple[str, str, str], str] = {
    ("GET", "/accounts/{account_id}/r2/buckets", "result"): (
        "the list is {buckets: [...]} now (SDK BucketListResponse), an array in 2024"
    ),
    (
        "GET",
        "/accounts/{account_id}/workers/scripts/{script_name}/settings",
        "result.usage_model",
    ): ("'standard' is a usage model now (SDK Literal['standard', 'bundled', 'unbound'])"),
    ("GET", "/accounts/{account_id}/workers/scripts/{script_name}/settings", "result.bindings"): (
        "the trimmed document knows only resource bindings; plain_text, secret_text and "
        "send_email are members of the SDK's binding union"
    ),
    **{
        ("GET", "/zones", f"result.0.{field}"): "null for a zone added directly (SDK Optional)"
        for field in (
            "original_dnshost",
            "original_name_servers",
            "original_registrar",
            "owner.id",
            "owner.name",
        )
    },
    ("PUT", "/accounts/{account_id}/workers/scripts/{script_name}", "result.usage_model"): (
        "'standard' is a usage model now (SDK Literal['standard', 'bundled', 'unbound'])"
    ),
}


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", ID, template) + "$")


def _model(name: str) -> Any:
    import importlib

    module, cls = name.split(":")
    return getattr(importlib.import_module(f"cloudflare.types.{module}"), cls)


def unknown_fields(value: Any, where: str = "result") -> list[str]:
    """Fields the SDK model does not declare, anywhere in a parsed value."""
    if isinstance(value, BaseModel):
        out = [f"{where}.{k}" for k in (value.model_extra or {})]
        for name in type(value).model_fields:
            out += unknown_fields(getattr(value, name), f"{where}.{name}")
        return out
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in unknown_fields(v, f"{where}[{i}]")]
    return []


def openapi_operation(method: str, path: str) -> str | None:
    """The vendored OpenAPI path template documenting this request, if any."""
    for template, ops in _spec()["paths"].items():
        if method.lower() in ops and _pattern(template).match(path):
            return template
    return None


@pytest.fixture(scope="module")
def responses(sandbox_server) -> list[tuple[str, str, int, Any]]:
    """Every JSON answer the product got in one full run against the sandbox."""
    from polaris_tui.session import sandbox_context

    box, endpoints = sandbox_server
    box.reset_state()
    seen: list[tuple[str, str, int, Any]] = []

    def record(response: httpx.Response) -> None:
        response.read()
        if response.headers.get("content-type", "").startswith("application/json"):
            path = response.request.url.path.split("/client/v4", 1)[1]
            seen.append((response.request.method, path, response.status_code, response.json()))

    ctx = sandbox_context(box, endpoints)
    ctx.api.__dict__["client"] = cloudflare.Cloudflare(
        api_token=endpoints.token,
        base_url=endpoints.api,
        http_client=httpx.Client(event_hooks={"response": [record]}),
    )
    ok, detail = demo.apply_all(ctx)
    assert ok, detail
    assert runner.verify(ctx, runner.select("all")).ok
    assert run_blocking(rotation.emergency(ctx)).ok
    return seen


def test_every_answer_is_known_to_the_sdk_model_and_the_openapi_subset(responses):
    problems: list[str] = []
    documented = 0
    for method, path, status, body in responses:
        if status >= 400:
            continue  # error envelopes: checked by the endpoint tests
        key = next((k for k in MODELS if k[0] == method and _pattern(k[1]).match(path)), None)
        if key is None:
            problems.append(f"{method} {path}: no SDK model mapped (add it to MODELS)")
            continue
        template = openapi_operation(method, path)
        if template is not None:
            documented += 1
            problems += [
                f"{method} {path}: {e}"
                for e in validate_response(body, method, template)
                if not any(
                    (method, template) == (m, t) and e.startswith((prefix + ":", prefix + "."))
                    for m, t, prefix in SPEC_DRIFT
                )
            ]
        result = body["result"]
        items = result if isinstance(result, list) else [result]
        adapter = TypeAdapter(_model(MODELS[key]))
        for item in items:
            try:
                parsed = adapter.validate_python(item)
            except ValidationError as exc:
                where = sorted({".".join(map(str, e["loc"][:2])) for e in exc.errors()})[:3]
                problems.append(f"{method} {path}: the SDK model refuses {where}")
                continue
            problems += [f"{method} {path}: unknown {f}" for f in unknown_fields(parsed)]
    assert not problems, "\n".join(sorted(set(problems)))
    assert documented > 0


def test_dns_records_carry_only_the_fields_the_api_returns(responses):
    records = [
        r
        for method, path, status, body in responses
        if method == "GET" and path.endswith("/dns_records") and status == 200
        for r in body["result"]
    ]
    assert records
    fields = set().union(*(r.keys() for r in records))
    assert not {"zone_id", "zone_name"} & fields, json.dumps(records[0])
