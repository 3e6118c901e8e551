"""Workers: script upload (multipart), settings, secrets, versions, routes and custom
domains with Cloudflare's error codes."""

from __future__ import annotations

import asyncio
import base64
import datetime
import fnmatch
import hashlib
import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polaris_tui.sandbox import schema, zone
from polaris_tui.sandbox.api.common import (
    ApiContext,
    check_account,
    check_zone,
    json_body,
    parse_json,
    require_object,
)
from polaris_tui.sandbox.api.durable_objects import (
    apply_migrations,
    check_durable_bindings,
    with_namespace_ids,
)
from polaris_tui.sandbox.envelope import ApiError, ok, paginate
from polaris_tui.sandbox.state import new_id, now_iso, worker_secret_service

SCRIPTS = "/accounts/{account_id}/workers/scripts"
SECRET_TYPES = ("secret_text",)
# The binding types Cloudflare accepts, as the SDK lists them
# (cloudflare/types/workers/script_update_params.py, MetadataBinding); a test keeps them equal.
# fmt: off
BINDING_TYPES = frozenset((
    "ai", "ai_search", "ai_search_namespace", "analytics_engine", "artifacts", "assets",
    "browser", "d1", "data_blob", "dispatch_namespace", "durable_object_namespace", "flagship",
    "hyperdrive", "images", "inherit", "json", "k2", "kv_namespace", "media", "messaging",
    "mtls_certificate", "pipelines", "plain_text", "queue", "r2_bucket", "ratelimit",
    "secret_key", "secret_text", "secrets_store_secret", "send_email", "service", "text_blob",
    "vectorize", "version_metadata", "vpc_network", "vpc_service", "wasm_module", "workflow",
))
# fmt: on
JS_MODULE_TYPES = ("application/javascript+module", "text/javascript+module")
NODE_CHECK_TIMEOUT = 20.0
CUSTOM_DOMAIN_TARGET = "100::"


def script_not_found(name: str) -> ApiError:
    return ApiError(
        404,
        10007,
        f"workers.api.error.script_not_found: This Worker ({name}) does not exist on your account.",
    )


def _script(state: dict[str, Any], name: str) -> dict[str, Any]:
    script = state["scripts"].get(name)
    if script is None:
        raise script_not_found(name)
    return script


def public_bindings(script: dict[str, Any]) -> list[dict[str, Any]]:
    """Bindings as the API shows them: secret values never leave the keyring."""
    return with_namespace_ids(script)


def _new_version(script: dict[str, Any], source: str) -> str:
    version = {
        "id": str(uuid.uuid4()),
        "number": len(script["versions"]) + 1,
        "created_on": now_iso(),
        "source": source,
    }
    script["versions"].append(version)
    script["modified_on"] = version["created_on"]
    script["etag"] = hashlib.sha256(version["id"].encode()).hexdigest()
    return version["id"]


def _script_view(script: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": script["name"],
        "tag": script["tag"],
        "etag": script["etag"],
        "created_on": script["created_on"],
        "modified_on": script["modified_on"],
        "compatibility_date": script.get("compatibility_date"),
        "compatibility_flags": script.get("compatibility_flags", []),
        "handlers": ["fetch"],
        "has_modules": True,
        "has_assets": False,
        "logpush": script.get("logpush", False),
        "usage_model": "standard",
        "startup_time_ms": 0,
        "tags": script.get("tags", []),
        "last_deployed_from": "api",
        "tail_consumers": [],
        "entry_point": script.get("main_module"),
        "migration_tag": script.get("migration_tag"),
    }


def _check_binding(binding: Any, i: int, state: dict[str, Any]) -> dict[str, Any]:
    if (
        not isinstance(binding, dict)
        or not isinstance(binding.get("name"), str)
        or not isinstance(binding.get("type"), str)
    ):
        raise ApiError(
            400,
            10021,
            f"field 'metadata.bindings.{i}': every binding needs a string 'name' and 'type'",
        )
    kind = binding["type"]
    if kind not in BINDING_TYPES:
        raise ApiError(
            400,
            10021,
            f"field 'metadata.bindings.{i}.type': unknown binding type {kind!r}",
        )
    if kind in ("plain_text", "secret_text") and not isinstance(binding.get("text"), str):
        raise ApiError(
            400,
            10021,
            f"field 'metadata.bindings.{i}.text': a {kind} binding needs a string 'text'",
        )
    if kind == "kv_namespace" and binding.get("namespace_id") not in state["kv_namespaces"]:
        raise ApiError(
            400,
            10041,
            f"field 'metadata.bindings.{i}.namespace_id': KV namespace "
            f"{binding.get('namespace_id')!r} not found on this account",
        )
    if kind == "send_email":
        for key in ("allowed_sender_addresses", "allowed_destination_addresses"):
            if key in binding and not (
                isinstance(binding[key], list) and all(isinstance(a, str) for a in binding[key])
            ):
                raise ApiError(
                    400,
                    10021,
                    f"field 'metadata.bindings.{i}.{key}' must be a list of email addresses",
                )
        domain = state["zone"]["name"]
        for sender in binding.get("allowed_sender_addresses") or []:
            if not zone.in_zone(sender.rpartition("@")[2], domain):
                raise ApiError(
                    400,
                    10021,
                    f"field 'metadata.bindings.{i}.allowed_sender_addresses': {sender} is not "
                    f"on a domain of this account's zones ({domain})",
                )
    return binding


def check_compatibility_date(value: Any) -> None:
    """A ``compatibility_date`` must be a real date, and not after today (UTC)."""
    if value is None:
        return
    try:
        day = datetime.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        raise ApiError(
            400, 10021, f"field 'metadata.compatibility_date': {value!r} is not a YYYY-MM-DD date"
        )
    today = datetime.datetime.now(datetime.UTC).date()
    if day > today:
        raise ApiError(
            400,
            10021,
            f"field 'metadata.compatibility_date': {value} is in the future (today is {today})",
        )


def check_module_syntax(modules: dict[str, dict[str, str]]) -> None:
    """Each JavaScript module must parse, as Cloudflare's upload does (400/10021 with the
    parser's message). ``node --check`` is the parser; without Node nothing is checked."""
    node = shutil.which("node")
    if node is None:
        return
    with tempfile.TemporaryDirectory(prefix="sandbox-upload-") as tmp:
        for name, module in modules.items():
            if module["content_type"] not in JS_MODULE_TYPES:
                continue
            path = Path(tmp) / (Path(name).stem + ".mjs")
            path.write_bytes(base64.b64decode(module["b64"]))
            result = subprocess.run(
                [node, "--check", str(path)],
                capture_output=True,
                text=True,
                timeout=NODE_CHECK_TIMEOUT,
                check=False,
            )
            if result.returncode != 0:
                raise ApiError(400, 10021, _syntax_message(result.stderr, path, name))


def _syntax_message(stderr: str, path: Path, name: str) -> str:
    """``Uncaught SyntaxError: ... at index.js:LINE`` from Node's report."""
    lines = stderr.splitlines()
    error = next((ln for ln in lines if "Error:" in ln), lines[-1] if lines else "SyntaxError")
    where = next((ln for ln in lines if ln.startswith(str(path) + ":")), "")
    line = where.rpartition(":")[2] if where else "?"
    return f"Uncaught {error.strip()}\n  at {name}:{line}"


def apply_bindings(
    context: ApiContext,
    state: dict[str, Any],
    script: dict[str, Any] | None,
    name: str,
    incoming: list[Any],
    keep_types: list[str],
    strict_inherit: bool,
) -> list[dict[str, Any]]:
    """Resolve ``inherit``/``keep_bindings``, store secret values in the sandbox keyring and
    return the bindings as persisted (secret_text without its text)."""
    previous = {b["name"]: b for b in (script or {}).get("bindings", [])}
    service = worker_secret_service(name)
    old_secrets = context.store.keyring.entries(service)
    resolved: list[dict[str, Any]] = []
    new_secrets: dict[str, str] = {}
    for i, raw in enumerate(incoming):
        if isinstance(raw, dict) and raw.get("type") == "inherit":
            source = previous.get(raw.get("old_name") or raw.get("name", ""))
            if source is None:
                if strict_inherit:
                    raise ApiError(
                        400,
                        10021,
                        f"field 'metadata.bindings.{i}': cannot inherit "
                        f"binding {raw.get('name')!r}, the previous version has none",
                    )
                continue
            binding = {**source, "name": raw["name"]}
            if binding["type"] in SECRET_TYPES and source["name"] in old_secrets:
                new_secrets[binding["name"]] = old_secrets[source["name"]]
            resolved.append(binding)
            continue
        binding = dict(_check_binding(raw, i, state))
        if binding["type"] in SECRET_TYPES:
            new_secrets[binding["name"]] = binding.pop("text")
        resolved.append(binding)
    names = [b["name"] for b in resolved]
    for kept in previous.values():
        if kept["type"] in keep_types and kept["name"] not in names:
            resolved.append(dict(kept))
            names.append(kept["name"])
            if kept["type"] in SECRET_TYPES and kept["name"] in old_secrets:
                new_secrets[kept["name"]] = old_secrets[kept["name"]]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ApiError(
            400, 10021, f"field 'metadata.bindings': duplicate binding name(s) {sorted(duplicates)}"
        )
    _store_secrets(context, service, new_secrets)
    return resolved


def _store_secrets(context: ApiContext, service: str, values: dict[str, str]) -> None:
    keyring = context.store.keyring
    keyring.delete_service(service)
    for key, value in values.items():
        keyring.set_password(service, key, value)


async def _form_json(value: Any, field: str) -> Any:
    if isinstance(value, UploadFile):
        value = (await value.read()).decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ApiError(400, 10021, f"field '{field}' is required (a JSON multipart part)")
    try:
        return parse_json(value)
    except ValueError:
        raise ApiError(400, 10021, f"field '{field}' is not valid JSON") from None


async def upload_script(request: Request) -> Response:
    context = check_account(request)
    name = request.path_params["script"]
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise ApiError(
            400,
            10021,
            "Worker uploads must be multipart/form-data with a 'metadata' part and module parts",
        )
    form = await request.form()
    metadata = await _form_json(form.get("metadata"), "metadata")
    if not isinstance(metadata, dict):
        raise ApiError(400, 10021, "field 'metadata' must be a JSON object")
    modules: dict[str, dict[str, str]] = {}
    for key, value in form.multi_items():
        if key != "metadata" and isinstance(value, UploadFile):
            content = await value.read()
            modules[value.filename or key] = {
                "content_type": value.content_type or "application/javascript+module",
                "b64": base64.b64encode(content).decode(),
            }
    main = metadata.get("main_module") or metadata.get("body_part")
    if not isinstance(main, str) or main not in modules:
        raise ApiError(
            400,
            10021,
            f"field 'metadata.main_module': module {main!r} was not "
            f"uploaded (parts: {sorted(modules)})",
        )
    check_compatibility_date(metadata.get("compatibility_date"))
    await asyncio.to_thread(check_module_syntax, modules)
    bindings = metadata.get("bindings", [])
    keep = metadata.get("keep_bindings", [])
    if not isinstance(bindings, list) or not isinstance(keep, list):
        raise ApiError(
            400, 10021, "fields 'metadata.bindings' and 'metadata.keep_bindings' must be lists"
        )
    strict = request.query_params.get("bindings_inherit") == "strict"
    with context.store.change() as state:
        script = state["scripts"].get(name)
        migration_tag, classes = apply_migrations(script, metadata.get("migrations"), modules)
        check_durable_bindings(bindings, classes, modules)
        resolved = apply_bindings(context, state, script, name, bindings, keep, strict)
        if script is None:
            created = now_iso()
            script = {
                "name": name,
                "tag": new_id(),
                "created_on": created,
                "modified_on": created,
                "etag": "",
                "versions": [],
            }
            state["scripts"][name] = script
        script.update(
            main_module=main,
            modules=modules,
            bindings=resolved,
            compatibility_date=metadata.get("compatibility_date"),
            compatibility_flags=metadata.get("compatibility_flags", []),
            logpush=bool(metadata.get("logpush", False)),
            tags=metadata.get("tags", []),
            migration_tag=migration_tag,
            durable_objects=classes,
        )
        _new_version(script, "api")
        return ok(_script_view(script))


async def list_scripts(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        return ok([_script_view(s) for s in state["scripts"].values()])


def modules_multipart(script: dict[str, Any]) -> tuple[bytes, str]:
    """A module Worker downloads as multipart/form-data, one part per module, main first,
    as Cloudflare answers it (not the raw JS)."""
    boundary = uuid.uuid4().hex
    names = sorted(script["modules"], key=lambda n: n != script["main_module"])
    chunks = []
    for name in names:
        module = script["modules"][name]
        chunks += [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'.encode(),
            f"Content-Type: {module['content_type']}\r\n\r\n".encode(),
            base64.b64decode(module["b64"]),
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


async def get_script(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        body, content_type = modules_multipart(_script(state, request.path_params["script"]))
    return Response(body, headers={"content-type": content_type})


async def delete_script(request: Request) -> Response:
    context = check_account(request)
    name = request.path_params["script"]
    with context.store.change() as state:
        _script(state, name)
        del state["scripts"][name]
        for ident, domain in list(state["worker_domains"].items()):
            if domain["service"] == name:
                _drop_domain(state, ident)
    context.store.keyring.delete_service(worker_secret_service(name))
    return ok(None)


def _settings_view(script: dict[str, Any]) -> dict[str, Any]:
    return {
        "bindings": public_bindings(script),
        "compatibility_date": script.get("compatibility_date"),
        "compatibility_flags": script.get("compatibility_flags", []),
        "logpush": script.get("logpush", False),
        "tags": script.get("tags", []),
        "tail_consumers": [],
        "usage_model": "standard",
        "observability": {"enabled": False},
    }


async def get_settings(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        return ok(_settings_view(_script(state, request.path_params["script"])))


async def patch_settings(request: Request) -> Response:
    """Multipart ``settings`` part; a secret_text binding without text keeps its value."""
    context = check_account(request)
    name = request.path_params["script"]
    if "multipart/form-data" in request.headers.get("content-type", ""):
        form = await request.form()
        settings = await _form_json(form.get("settings"), "settings")
    else:
        settings = require_object(await json_body(request)).get("settings", {})
    if not isinstance(settings, dict):
        raise ApiError(400, 10021, "field 'settings' must be a JSON object")
    with context.store.change() as state:
        script = _script(state, name)
        if "bindings" in settings:
            incoming = [
                (
                    {"type": "inherit", "name": b["name"]}
                    if isinstance(b, dict) and b.get("type") in SECRET_TYPES and "text" not in b
                    else b
                )
                for b in settings["bindings"] or []
            ]
            check_durable_bindings(incoming, script.get("durable_objects", {}), script["modules"])
            script["bindings"] = apply_bindings(
                context, state, script, name, incoming, [], strict_inherit=True
            )
        for key in ("compatibility_date", "compatibility_flags", "logpush", "tags"):
            if key in settings:
                script[key] = settings[key]
        _new_version(script, "api")
        return ok(_settings_view(script))


async def get_script_settings(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        script = _script(state, request.path_params["script"])
        return ok(
            {"logpush": script.get("logpush", False), "observability": None, "tail_consumers": []}
        )


async def patch_script_settings(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        script = _script(state, request.path_params["script"])
        if "logpush" in body:
            script["logpush"] = bool(body["logpush"])
        return ok(
            {"logpush": script.get("logpush", False), "observability": None, "tail_consumers": []}
        )


# -- secrets -------------------------------------------------------------------------
def _secret_names(script: dict[str, Any]) -> list[str]:
    return [b["name"] for b in script["bindings"] if b["type"] in SECRET_TYPES]


def _check_secret(body: Any, field: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, 9207, f"Request body is invalid: field '{field}' must be an object")
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise ApiError(400, 9207, f"Request body is invalid: field '{field}name' is required")
    if body.get("type", "secret_text") != "secret_text":
        raise ApiError(
            400, 9207, f"Request body is invalid: field '{field}type' must be 'secret_text'"
        )
    if not isinstance(body.get("text"), str):
        raise ApiError(400, 9207, f"Request body is invalid: field '{field}text' must be a string")
    return body


def _set_secrets(
    context: ApiContext, script: dict[str, Any], changes: dict[str, str | None]
) -> None:
    """Apply a merge patch of secret values (None deletes) as one new version."""
    service = worker_secret_service(script["name"])
    values = context.store.keyring.entries(service)
    for key, value in changes.items():
        other = next((b for b in script["bindings"] if b["name"] == key), None)
        if other is not None and other["type"] not in SECRET_TYPES:
            raise ApiError(
                400,
                10053,
                f"field 'name': binding name {key!r} is already used by a {other['type']} binding",
            )
        if value is None:
            if other is None:
                raise ApiError(404, 10056, f"Secret {key!r} not found on this Worker.")
            script["bindings"] = [b for b in script["bindings"] if b["name"] != key]
            values.pop(key, None)
        else:
            if other is None:
                script["bindings"].append({"name": key, "type": "secret_text"})
            values[key] = value
    _store_secrets(context, service, values)
    _new_version(script, "api")


async def put_secret(request: Request) -> Response:
    context = check_account(request)
    body = _check_secret(await json_body(request), "")
    with context.store.change() as state:
        script = _script(state, request.path_params["script"])
        _set_secrets(context, script, {body["name"]: body["text"]})
    return ok({"name": body["name"], "type": "secret_text"})


async def bulk_secrets(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    secrets = body.get("secrets", {})
    if not isinstance(secrets, dict):
        raise ApiError(400, 9207, "Request body is invalid: field 'secrets' must be an object")
    changes: dict[str, str | None] = {}
    for key, value in secrets.items():
        if value is None:
            changes[key] = None
        else:
            changes[key] = _check_secret(
                {"name": key, **value} if isinstance(value, dict) else value, f"secrets.{key}."
            )["text"]
    with context.store.change() as state:
        script = _script(state, request.path_params["script"])
        _set_secrets(context, script, changes)
        names = _secret_names(script)
    return ok({n: {"name": n, "type": "secret_text"} for n in names})


async def list_secrets(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        script = _script(state, request.path_params["script"])
        return ok([{"name": n, "type": "secret_text"} for n in _secret_names(script)])


async def get_secret(request: Request) -> Response:
    context = check_account(request)
    key = request.path_params["secret"]
    with context.store.read() as state:
        if key not in _secret_names(_script(state, request.path_params["script"])):
            raise ApiError(404, 10056, f"Secret {key!r} not found on this Worker.")
    return ok({"name": key, "type": "secret_text"})


async def delete_secret(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        script = _script(state, request.path_params["script"])
        _set_secrets(context, script, {request.path_params["secret"]: None})
    return ok({})


async def list_versions(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        script = _script(state, request.path_params["script"])
        items = [
            {
                "id": v["id"],
                "number": v["number"],
                "metadata": {
                    "created_on": v["created_on"],
                    "modified_on": v["created_on"],
                    "source": v["source"],
                    "has_preview": False,
                },
            }
            for v in reversed(script["versions"])
        ]
    page = paginate(items, request.query_params, default_per_page=100)
    payload = json.loads(page.body)
    return ok({"items": payload["result"]}, result_info=payload["result_info"])


# -- routes --------------------------------------------------------------------------
def _route(state: dict[str, Any], ident: str) -> dict[str, Any]:
    route = state["routes"].get(ident)
    if route is None:
        raise ApiError(404, 10019, "Route not found.")
    return route


def _route_from(body: dict[str, Any], state: dict[str, Any], ident: str) -> dict[str, Any]:
    schema.validate(body, schema.component("workers_route-no-id"))
    pattern = body["pattern"].strip().lower()
    host = pattern.split("/", 1)[0].lstrip("*").lstrip(".")
    if not zone.in_zone(host, state["zone"]["name"]):
        raise ApiError(
            400, 10022, f"field 'pattern': {pattern!r} is not inside zone {state['zone']['name']}"
        )
    if any(r["pattern"] == pattern and r["id"] != ident for r in state["routes"].values()):
        raise ApiError(409, 10020, f"A route with the same pattern already exists: {pattern}")
    script = body.get("script")
    if script and script not in state["scripts"]:
        raise script_not_found(script)
    return {"id": ident, "pattern": pattern, "script": script}


async def list_routes(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        return ok(list(state["routes"].values()))


async def create_route(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        route = _route_from(body, state, new_id())
        state["routes"][route["id"]] = route
    return ok(route)


async def get_route(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        return ok(_route(state, request.path_params["route_id"]))


async def update_route(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        old = _route(state, request.path_params["route_id"])
        route = _route_from(body, state, old["id"])
        state["routes"][old["id"]] = route
    return ok(route)


async def delete_route(request: Request) -> Response:
    context = check_zone(request)
    with context.store.change() as state:
        route = _route(state, request.path_params["route_id"])
        del state["routes"][route["id"]]
    return ok({"id": route["id"]})


def match_route(routes: list[dict[str, Any]], host: str, path: str) -> dict[str, Any] | None:
    """The most specific route whose glob pattern matches ``host + path``."""
    target = f"{host}{path}".lower()
    hits = [r for r in routes if fnmatch.fnmatchcase(target, r["pattern"])]
    return max(hits, key=lambda r: len(r["pattern"]), default=None)


# -- custom domains ------------------------------------------------------------------
DOMAINS = "/accounts/{account_id}/workers/domains"


def _drop_domain(state: dict[str, Any], ident: str) -> dict[str, Any]:
    entry = state["worker_domains"].pop(ident)
    for rec in list(state["dns_records"].values()):
        if rec.get("meta", {}).get("worker_domain_id") == ident:
            del state["dns_records"][rec["id"]]
    return entry


async def attach_domain(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    schema.validate(
        body, schema.request_schema("put", DOMAINS), drop_required=("environment", "zone_id")
    )
    with context.store.change() as state:
        domain = state["zone"]["name"]
        hostname = body["hostname"].lower().rstrip(".")
        if (
            body.get("zone_id") not in (None, state["zone"]["id"])
            or body.get("zone_name") not in (None, domain)
            or not zone.in_zone(hostname, domain)
        ):
            raise ApiError(
                400,
                100119,
                f"field 'hostname': {hostname} is not inside a zone "
                "of this account (check zone_id / zone_name).",
            )
        service = body["service"]
        if service not in state["scripts"]:
            raise script_not_found(service)
        held = next(
            (d for d in state["worker_domains"].values() if d["hostname"] == hostname), None
        )
        if held is not None and held["service"] != service:
            if not body.get("override_existing_origin"):
                raise ApiError(
                    409,
                    100116,
                    f"Hostname '{hostname}' is already in use by "
                    f"another Worker ({held['service']}). Detach it first or set "
                    "override_existing_origin.",
                )
            _drop_domain(state, held["id"])
            held = None
        if held is not None:
            return ok(held)
        external = [
            r
            for r in zone.find(state, hostname)
            if r["type"] in zone.ADDRESS_TYPES and not r.get("meta", {}).get("worker_domain_id")
        ]
        if external and not body.get("override_existing_dns_record"):
            raise ApiError(
                409,
                100117,
                f"Hostname '{hostname}' already has externally managed "
                "DNS records (A, CNAME, etc). Either delete them, try a different "
                "hostname, or use the option 'override_existing_dns_record' to "
                "override.",
            )
        for rec in external:
            del state["dns_records"][rec["id"]]
        ident = new_id()
        entry = {
            "id": ident,
            "zone_id": state["zone"]["id"],
            "zone_name": domain,
            "hostname": hostname,
            "service": service,
            "environment": body.get("environment") or "production",
            "cert_id": new_id(),
        }
        state["worker_domains"][ident] = entry
        zone.add_record(
            state,
            {
                "name": hostname,
                "type": "AAAA",
                "content": CUSTOM_DOMAIN_TARGET,
                "proxied": True,
                "ttl": 1,
            },
            meta={
                "read_only": True,
                "managed_by": "workers",
                "worker_domain_id": ident,
                "origin_worker_id": service,
            },
        )
        return ok(entry)


async def list_domains(request: Request) -> Response:
    context = check_account(request)
    query = request.query_params
    with context.store.read() as state:
        items = [
            d
            for d in state["worker_domains"].values()
            if all(
                not query.get(k) or d[k] == query[k]
                for k in ("hostname", "service", "zone_id", "zone_name", "environment")
            )
        ]
    return ok(items)


def _domain(state: dict[str, Any], ident: str) -> dict[str, Any]:
    entry = state["worker_domains"].get(ident)
    if entry is None:
        raise ApiError(404, 100114, "Domain not found.")
    return entry


async def get_domain(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        return ok(_domain(state, request.path_params["domain_id"]))


async def detach_domain(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        _domain(state, request.path_params["domain_id"])
        _drop_domain(state, request.path_params["domain_id"])
    return ok(None)


routes = [
    Route(SCRIPTS, list_scripts, methods=["GET"]),
    Route(SCRIPTS + "/{script}", upload_script, methods=["PUT"]),
    Route(SCRIPTS + "/{script}", get_script, methods=["GET"]),
    Route(SCRIPTS + "/{script}", delete_script, methods=["DELETE"]),
    Route(SCRIPTS + "/{script}/settings", get_settings, methods=["GET"]),
    Route(SCRIPTS + "/{script}/settings", patch_settings, methods=["PATCH"]),
    Route(SCRIPTS + "/{script}/script-settings", get_script_settings, methods=["GET"]),
    Route(SCRIPTS + "/{script}/script-settings", patch_script_settings, methods=["PATCH"]),
    Route(SCRIPTS + "/{script}/secrets", list_secrets, methods=["GET"]),
    Route(SCRIPTS + "/{script}/secrets", put_secret, methods=["PUT"]),
    Route(SCRIPTS + "/{script}/secrets-bulk", bulk_secrets, methods=["PATCH"]),
    Route(SCRIPTS + "/{script}/secrets/{secret}", get_secret, methods=["GET"]),
    Route(SCRIPTS + "/{script}/secrets/{secret}", delete_secret, methods=["DELETE"]),
    Route(SCRIPTS + "/{script}/versions", list_versions, methods=["GET"]),
    Route("/zones/{zone_id}/workers/routes", list_routes, methods=["GET"]),
    Route("/zones/{zone_id}/workers/routes", create_route, methods=["POST"]),
    Route("/zones/{zone_id}/workers/routes/{route_id}", get_route, methods=["GET"]),
    Route("/zones/{zone_id}/workers/routes/{route_id}", update_route, methods=["PUT"]),
    Route("/zones/{zone_id}/workers/routes/{route_id}", delete_route, methods=["DELETE"]),
    Route(DOMAINS, list_domains, methods=["GET"]),
    Route(DOMAINS, attach_domain, methods=["PUT"]),
    Route(DOMAINS + "/{domain_id}", get_domain, methods=["GET"]),
    Route(DOMAINS + "/{domain_id}", detach_domain, methods=["DELETE"]),
]
