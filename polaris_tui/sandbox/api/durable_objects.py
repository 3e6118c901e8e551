"""Durable Object migrations and bindings of a script upload, with Cloudflare's refusals.

A class gets a Durable Object namespace only through a migration (``new_sqlite_classes`` or
``new_classes``) in an upload's ``metadata.migrations``, which moves the script's migration
tag on; a ``durable_object_namespace`` binding to a class no migration created is refused
(10061), and a migration whose ``old_tag`` is not the script's tag too (10079).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from polaris_tui.sandbox.envelope import ApiError
from polaris_tui.sandbox.state import new_id

STEP_KEYS = ("new_classes", "new_sqlite_classes", "deleted_classes")
UNMODELLED_KEYS = ("renamed_classes", "transferred_classes")


def _field_error(field: str, message: str) -> ApiError:
    return ApiError(400, 10021, f"field 'metadata.migrations{field}': {message}")


def _class_names(step: dict[str, Any], key: str, where: str) -> list[str]:
    names = step.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise _field_error(f"{where}.{key}", "must be a list of class names")
    return names


def _exported(modules: dict[str, dict[str, str]], name: str) -> bool:
    """Whether a module exports ``name`` (``export class X`` or ``export { X }``)."""
    pattern = re.compile(
        rf"\bexport\s+(?:default\s+)?class\s+{re.escape(name)}\b"
        rf"|\bexport\s*\{{[^}}]*\b{re.escape(name)}\b[^}}]*\}}"
    )
    return any(
        pattern.search(base64.b64decode(m["b64"]).decode("utf-8", "replace"))
        for m in modules.values()
    )


def apply_migrations(
    script: dict[str, Any] | None, migrations: Any, modules: dict[str, dict[str, str]]
) -> tuple[str | None, dict[str, dict[str, str]]]:
    """The script's migration tag and Durable Object classes after ``migrations``.

    Nothing is stored here: the caller commits the result with the rest of the upload, so a
    refused upload changes nothing.
    """
    tag = (script or {}).get("migration_tag")
    classes = {k: dict(v) for k, v in (script or {}).get("durable_objects", {}).items()}
    if migrations is None:
        return tag, classes
    if not isinstance(migrations, dict):
        raise _field_error("", "must be an object")
    old_tag = migrations.get("old_tag")
    if old_tag is not None and old_tag != tag:
        raise ApiError(400, 10079, f"Migration tag precondition failed; current tag is {tag}")
    if "steps" in migrations:
        steps = migrations["steps"]
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise _field_error(".steps", "must be a list of migration steps")
        where = [f".steps.{i}" for i in range(len(steps))]
    else:
        steps, where = [migrations], [""]
    for step, at in zip(steps, where, strict=True):
        for key in UNMODELLED_KEYS:
            if step.get(key):
                raise _field_error(f"{at}.{key}", "is not modelled by the sandbox")
        for key, storage in (("new_sqlite_classes", "sqlite"), ("new_classes", "legacy-kv")):
            for name in _class_names(step, key, at):
                if name in classes:
                    raise _field_error(
                        f"{at}.{key}", f"class {name!r} already has a Durable Object namespace"
                    )
                if not _exported(modules, name):
                    raise ApiError(
                        400,
                        10070,
                        f"Cannot apply new-class migration to class '{name}' "
                        "that is not exported by script",
                    )
                classes[name] = {"namespace_id": new_id(), "storage": storage}
        for name in _class_names(step, "deleted_classes", at):
            if classes.pop(name, None) is None:
                raise _field_error(f"{at}.deleted_classes", f"class {name!r} has no namespace")
    new_tag = migrations.get("new_tag")
    if new_tag is not None and not isinstance(new_tag, str):
        raise _field_error(".new_tag", "must be a string")
    return (new_tag if new_tag is not None else tag), classes


def check_durable_bindings(
    bindings: list[Any], classes: dict[str, dict[str, str]], modules: dict[str, dict[str, str]]
) -> None:
    """Refuse a binding to a class of this script that has no namespace, or that the code does
    not export (both Cloudflare's 10061), before anything of the upload is stored."""
    for binding in bindings:
        if not isinstance(binding, dict) or binding.get("type") != "durable_object_namespace":
            continue
        if binding.get("script_name"):
            raise ApiError(
                400, 10021, "Durable Objects of another script are not modelled by the sandbox"
            )
        name = binding.get("class_name")
        if name not in classes:
            raise ApiError(
                400,
                10061,
                f"Cannot create binding for class '{name}' because it is not currently "
                "configured to implement Durable Objects. Ensure a --new-class migration "
                "has been applied to it.",
            )
        if not _exported(modules, name):
            raise ApiError(
                400,
                10061,
                f"Cannot create binding for class {name} that is not exported by the script",
            )


def with_namespace_ids(script: dict[str, Any]) -> list[dict[str, Any]]:
    """The script's bindings as the API shows them: a Durable Object's with its namespace id."""
    classes = script.get("durable_objects", {})
    return [
        {**b, "namespace_id": classes[b["class_name"]]["namespace_id"]}
        if b["type"] == "durable_object_namespace" and b.get("class_name") in classes
        else dict(b)
        for b in script["bindings"]
    ]
