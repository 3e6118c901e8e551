"""Request-body validation against the bundled Cloudflare OpenAPI subset.

Bodies that the real API would reject for their shape are rejected here the same way
(400, code 9207), with a message naming the offending field.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

from polaris_tui.sandbox.envelope import ApiError

SPEC_PATH = Path(__file__).parent / "data" / "cloudflare-openapi-subset.json"
_SENSITIVE = re.compile(r"secret|text|token|value|password", re.I)


@functools.cache
def _spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


@functools.cache
def _validator(pointer: str, drop_required: tuple[str, ...]) -> Any:
    from jsonschema import Draft7Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    spec = _spec()
    registry = Registry().with_resource("urn:cf", DRAFT7.create_resource(spec))
    node: Any = spec
    for part in pointer.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    schema = copy.deepcopy(node)
    if drop_required and "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in drop_required]
    schema = _rebase(schema)
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


def _rebase(node: Any) -> Any:
    """Point local ``#/...`` references at the registered spec document."""
    if isinstance(node, dict):
        return {
            k: ("urn:cf" + v if k == "$ref" and v.startswith("#") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def request_schema(method: str, path: str) -> str:
    """JSON pointer of the request-body schema of one documented operation."""
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method.lower()}/requestBody/content/application~1json/schema"


def component(name: str) -> str:
    return f"#/components/schemas/{name}"


def validate(body: Any, pointer: str, *, drop_required: tuple[str, ...] = ()) -> None:
    """Raise ``ApiError(400, 9207)`` naming the first invalid field of ``body``."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(pointer, drop_required).iter_errors(body))
    if error is None:
        return
    field = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = ".".join(filter(None, [field, *(missing[:1])]))
        detail = "is required"
    elif field and _SENSITIVE.search(field.rsplit(".", 1)[-1]):
        detail = f"is invalid ({error.validator} check failed)"
    else:
        detail = error.message
    raise ApiError(400, 9207, f"Request body is invalid: field '{field or '(body)'}' {detail}")


def validate_response(body: Any, method: str, path: str) -> list[str]:
    """What in a 200 answer of a documented operation breaks its response schema (tests
    hold the sandbox's answers to the same document its request checks use)."""
    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = f"#/paths/{escaped}/{method.lower()}/responses/200/content/application~1json/schema"
    node: Any = _spec()
    for part in pointer.lstrip("#/").split("/"):
        node = (
            node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        )
    if node is None:
        return []
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
        for error in _validator(pointer, ()).iter_errors(body)
    ]
